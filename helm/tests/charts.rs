//! Replays `tests/charts/cases.txt` (charts of our own, outputs recorded from `helm template`
//! v4.3.2 by `tests/charts/record.sh`) through `helm::chart::render`: identical bytes, or the
//! same error message (Helm's `Error: ` prefix and `--debug` hint left aside).

use std::path::{Path, PathBuf};

use helm::chart::{Options, render};

fn parse_args(release: &str, args: &[&str], dir: &Path) -> Options {
    let mut o = Options {
        release_name: release.to_string(),
        ..Options::default()
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let mut next = || {
            i += 1;
            args[i].to_string()
        };
        match a {
            "-n" => o.namespace = next(),
            "-f" => {
                let f = next();
                let text = std::fs::read_to_string(dir.join(&f)).expect("value file");
                o.value_files.push((f, text));
            }
            "--set" => o.set.push(next()),
            "--set-string" => o.set_string.push(next()),
            "--set-file" => o.set_file.push(next()),
            "--set-json" => o.set_json.push(next()),
            "--set-literal" => o.set_literal.push(next()),
            "--include-crds" => o.include_crds = true,
            "--no-hooks" => o.no_hooks = true,
            "--skip-tests" => o.skip_tests = true,
            "--is-upgrade" => o.is_upgrade = true,
            "--kube-version" => o.kube_version = Some(next()),
            "--api-versions" => o.api_versions.extend(next().split(',').map(str::to_string)),
            "--values" => {
                let f = next();
                let text = std::fs::read_to_string(dir.join(&f)).expect("value file");
                o.value_files.push((f, text));
            }
            other => panic!("unknown flag {other}"),
        }
        i += 1;
    }
    o
}

#[test]
fn charts_match_helm_template() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/charts");
    let cases = std::fs::read_to_string(dir.join("cases.txt")).unwrap();
    let known_text = std::fs::read_to_string(dir.join("known.txt")).unwrap();
    let known: Vec<&str> = known_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let fs = kustomize::DiskFs::new(&dir);
    let (mut total, mut same) = (0, 0);
    let mut failures = Vec::new();
    for line in cases.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (name, release, chart) = (words[0], words[1], words[2]);
        let opts = parse_args(release, &words[3..], &dir);
        total += 1;
        let got = render(&fs, Path::new(chart), &opts);
        let out = dir.join("expected").join(format!("{name}.out"));
        let ok = if out.exists() {
            let want = std::fs::read_to_string(&out).unwrap();
            match &got {
                Ok(g) if *g == want => true,
                Ok(g) => {
                    failures.push(format!(
                        "{name}: output differs\n--- want\n{want}\n--- got\n{g}"
                    ));
                    false
                }
                Err(e) => {
                    failures.push(format!("{name}: unexpected error: {e}"));
                    false
                }
            }
        } else {
            let want =
                std::fs::read_to_string(dir.join("expected").join(format!("{name}.err"))).unwrap();
            // Helm's log lines (level=ERROR …) come before its `Error: ` line.
            let start = if want.starts_with("Error: ") {
                0
            } else {
                want.find("\nError: ").map_or(0, |i| i + 1)
            };
            let want = &want[start..];
            let want = want
                .strip_prefix("Error: ")
                .unwrap_or(want)
                .trim_end_matches('\n');
            let want = want
                .strip_suffix("\n\nUse --debug flag to render out invalid YAML")
                .unwrap_or(want);
            match &got {
                Err(e) if e.0 == want => true,
                Err(e) => {
                    failures.push(format!(
                        "{name}: error differs\n--- want\n{want}\n--- got\n{e}"
                    ));
                    false
                }
                Ok(_) => {
                    failures.push(format!("{name}: expected error {want}"));
                    false
                }
            }
        };
        if ok {
            same += 1;
            if known.contains(&name) {
                failures.push(format!("{name}: listed in known.txt but now identical"));
            }
        } else if known.contains(&name) {
            failures.pop();
        }
    }
    println!(
        "charts: {same}/{total} identical ({} known differences)",
        known.len()
    );
    assert!(
        failures.is_empty(),
        "{}\n{same}/{total} identical",
        failures.join("\n\n")
    );
}

#[test]
fn deep_subchart_nesting_is_refused() {
    let mut fs = kustomize::MemFs::new();
    let mut dir = String::from("c");
    for _ in 0..80 {
        fs.add(
            &format!("{dir}/Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        );
        dir.push_str("/charts/c");
    }
    let e = render(&fs, Path::new("c"), &Options::default()).unwrap_err();
    assert!(e.0.contains("nested deeper than 64"), "{e}");
}

#[test]
fn values_schema_is_refused_naming_the_file() {
    let mut fs = kustomize::MemFs::new();
    fs.add("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
    fs.add("c/values.schema.json", "{}");
    let e = render(&fs, Path::new("c"), &Options::default()).unwrap_err();
    assert!(e.0.starts_with("c/values.schema.json: "), "{e}");
}

#[test]
fn nondeterministic_functions_and_lookup_are_reported() {
    let mut fs = kustomize::MemFs::new();
    fs.add("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
    fs.add(
        "c/templates/_h.tpl",
        "{{ define \"c.id\" }}{{ uuidv4 }}{{ end }}",
    );
    fs.add(
        "c/templates/a.yaml",
        "a: {{ lookup \"v1\" \"Secret\" \"ns\" \"x\" | len }}\nb: {{ now | date \"2006\" | len }}\n",
    );
    let (out, warnings) =
        helm::render_with_warnings(&fs, Path::new("c"), &Options::default()).unwrap();
    assert_eq!(out, "---\n# Source: c/templates/a.yaml\na: 0\nb: 4\n");
    assert_eq!(
        warnings,
        vec![
            "template c.id calls uuidv4: its output differs at every render",
            "template c/templates/a.yaml calls lookup, which returns an empty map when rendering offline (as helm template does)",
            "template c/templates/a.yaml calls now: its output differs at every render",
        ]
    );
}

#[test]
fn deep_template_recursion_ends_in_an_error_on_a_small_stack() {
    let t = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut fs = kustomize::MemFs::new();
            fs.add("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
            fs.add(
                "c/templates/a.yaml",
                "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}a: {{ template \"r\" . }}\n",
            );
            render(&fs, Path::new("c"), &Options::default()).unwrap_err()
        })
        .unwrap();
    let e = t.join().unwrap();
    assert!(
        e.0.contains("exceeded maximum template depth (4100)"),
        "{e}"
    );
}

#[test]
fn the_step_budget_is_shared_by_every_template_of_a_chart() {
    let mut fs = kustomize::MemFs::new();
    fs.add("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
    // 30 templates of 2 M iterations each: under the per-execution budget of 50 M, over it
    // together.
    for i in 0..30 {
        fs.add(
            &format!("c/templates/t{i:02}.yaml"),
            "{{ range 2000000 }}{{ end }}a: b\n",
        );
    }
    let e = render(&fs, Path::new("c"), &Options::default()).unwrap_err();
    assert!(e.0.contains("steps"), "{e}");
}
