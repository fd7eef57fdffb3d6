//! Hostile templates: deep nesting and unbounded recursion end in errors, not in a crash.

use helm::template::Templates;
use helm::value::Value;

fn run_on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
    // Tests run on 2 MiB threads; the agent renders on threads at least this big.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn deeply_nested_parentheses_are_refused_not_overflowing_the_stack() {
    run_on_small_stack(|| {
        let depth = 100_000;
        let text = format!("{{{{{}1{}}}}}", "(".repeat(depth), ")".repeat(depth));
        let mut t = Templates::new();
        let err = t.parse("deep", &text).unwrap_err();
        assert!(
            err.message.contains("max expression depth exceeded"),
            "{}",
            err.message
        );
    });
}

#[test]
fn nesting_within_the_limit_renders() {
    run_on_small_stack(|| {
        let depth = 200;
        let text = format!("{{{{{}1{}}}}}", "(".repeat(depth), ")".repeat(depth));
        let mut t = Templates::new();
        t.parse("deep", &text).unwrap();
        assert_eq!(t.execute("deep", &Value::Nil).unwrap(), "1");
    });
}

#[test]
fn deeply_nested_control_structures_are_refused() {
    run_on_small_stack(|| {
        let depth = 100_000;
        let text = format!("{}x{}", "{{if 1}}".repeat(depth), "{{end}}".repeat(depth));
        let mut t = Templates::new();
        let err = t.parse("deep", &text).unwrap_err();
        assert!(err.message.contains("max"), "{}", err.message);
    });
}

#[test]
fn infinite_template_recursion_stops_at_the_depth_limit() {
    run_on_small_stack(|| {
        let mut t = Templates::new();
        t.parse(
            "r",
            r#"{{define "loop"}}{{template "loop" .}}{{end}}{{template "loop" .}}"#,
        )
        .unwrap();
        let err = t.execute("r", &Value::Nil).unwrap_err();
        assert!(
            err.message.contains("exceeded maximum template depth"),
            "{}",
            err.message
        );
    });
}

#[test]
fn infinite_include_recursion_stops_at_the_depth_limit() {
    run_on_small_stack(|| {
        let mut t = Templates::new();
        helm::functions::add_to(&mut t);
        t.parse(
            "r",
            r#"{{define "loop"}}{{include "loop" .}}{{end}}{{include "loop" .}}"#,
        )
        .unwrap();
        let err = t.execute("r", &Value::Nil).unwrap_err();
        assert!(
            err.message.contains("exceeded maximum template depth"),
            "{}",
            err.message
        );
    });
}

#[test]
fn output_is_bounded() {
    let mut t = Templates::new();
    t.limits.max_output = 1000;
    t.parse("big", "{{range 100000}}0123456789{{end}}").unwrap();
    let err = t.execute("big", &Value::Nil).unwrap_err();
    assert!(
        err.message.contains("output exceeds 1000 bytes"),
        "{}",
        err.message
    );
}

#[test]
fn deeply_nested_values_built_by_a_template_print_and_drop() {
    run_on_small_stack(|| {
        let mut t = Templates::new();
        helm::functions::add_to(&mut t);
        t.parse("n", r#"{{$d := dict}}{{range 100000}}{{$d = dict "x" $d}}{{end}}{{len (toJson $d)}} {{len (print $d)}} {{len (toYaml $d)}}"#)
            .unwrap();
        let out = t.execute("n", &Value::Nil).unwrap();
        // toYaml goes through serde_json, whose nesting limit (128) makes it give up (Helm's
        // toYaml returns "" on errors too); Go would still print it.
        assert_eq!(out, "600002 700005 0");
    });
}

#[test]
fn long_loops_stop_at_the_step_limit() {
    let mut t = Templates::new();
    t.limits.max_steps = 10_000;
    t.parse("slow", "{{range 1000000000}}{{end}}").unwrap();
    let err = t.execute("slow", &Value::Nil).unwrap_err();
    assert!(
        err.message
            .contains("template execution exceeds 10000 steps"),
        "{}",
        err.message
    );
}

#[test]
#[ignore = "development aid: prints the functions registered"]
fn list_functions() {
    let mut t = Templates::new();
    helm::functions::add_to(&mut t);
    for n in t.func_names() {
        println!("FUNC {n}");
    }
}

#[test]
fn random_functions_work_and_are_reported_as_nondeterministic() {
    let mut t = Templates::new();
    helm::functions::add_to(&mut t);
    t.parse("r", r#"{{ randAlphaNum 16 }}|{{ randNumeric 8 }}|{{ uuidv4 }}|{{ randInt 3 5 }}|{{ shuffle "abc" | len }}|{{ define "x" }}{{ if now }}{{ end }}{{ end }}"#)
        .unwrap();
    let out = t.execute("r", &Value::Nil).unwrap();
    let parts: Vec<&str> = out.split('|').collect();
    assert!(
        parts[0].len() == 16 && parts[0].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{out}"
    );
    assert!(
        parts[1].len() == 8 && parts[1].bytes().all(|b| b.is_ascii_digit()),
        "{out}"
    );
    assert!(
        parts[2].len() == 36 && parts[2].as_bytes()[14] == b'4',
        "{out}"
    );
    assert!(parts[3] == "3" || parts[3] == "4", "{out}");
    assert_eq!(parts[4], "3");
    let used = t.functions_used();
    let nondet: Vec<(&String, &String)> = used
        .iter()
        .flat_map(|(tmpl, fs)| {
            fs.iter()
                .filter(|f| helm::sprig::NONDETERMINISTIC.contains(&f.as_str()))
                .map(move |f| (tmpl, f))
        })
        .collect();
    assert_eq!(nondet.len(), 6, "{nondet:?}");
    assert!(nondet.iter().any(|(t, f)| *t == "x" && *f == "now"));
}
