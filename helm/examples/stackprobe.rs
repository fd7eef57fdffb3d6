//! Measures how deep templates and parentheses can nest on a given stack (development aid).
use helm::template::Templates;
use helm::value::Value;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args[1].clone();
    let depth: usize = args[2].parse().unwrap();
    let stack: usize = args[3].parse::<usize>().unwrap() << 20;
    let r = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let mut t = Templates::new();
            helm::functions::add_to(&mut t);
            t.limits.max_depth = depth + 10;
            let text = match kind.as_str() {
                "paren" => format!("{{{{{}1{}}}}}", "(".repeat(depth), ")".repeat(depth)),
                "if" => format!("{}x{}", "{{if 1}}".repeat(depth), "{{end}}".repeat(depth)),
                "include" => r#"{{define "l"}}{{if .}}{{include "l" (sub . 1)}}{{end}}{{end}}{{include "l" .}}"#.to_string(),
                _ => r#"{{define "l"}}{{if .}}{{template "l" (sub . 1)}}{{end}}{{end}}{{template "l" .}}"#.to_string(),
            };
            t.parse("p", &text).map_err(|e| e.message)?;
            t.execute("p", &Value::Int(depth as i64)).map_err(|e| e.message)
        })
        .unwrap()
        .join();
    println!("{:?}", r.map(|r| r.map(|s| s.len())));
}
