//! Times parse + execute of the `helm/deployment` conformance case (a Deployment template with
//! include-free Helm idioms): `cargo run --release -p helm-rs --example bench_render`.
use std::time::Instant;

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/helm.json");
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir).unwrap()).unwrap();
    let case = table["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "helm/deployment")
        .unwrap();
    let text = case["text"].as_str().unwrap();
    let data = helm::Value::from_json(&table["shared"]["top"]);
    let n = 20000;
    let mut base = helm::Templates::new();
    helm::functions::add_to(&mut base);
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..n {
        let mut t = base.clone();
        t.parse("d", text).unwrap();
        total += t.execute("d", &data).unwrap().len();
    }
    let el = start.elapsed();
    println!(
        "rust: {n} renders in {el:?} ({:.1} us each), {total} bytes",
        el.as_micros() as f64 / n as f64
    );
    let mut t = base.clone();
    t.parse("d", text).unwrap();
    let start = Instant::now();
    for _ in 0..n {
        total += t.execute("d", &data).unwrap().len();
    }
    let el = start.elapsed();
    println!(
        "rust: {n} executions of one parsed template in {el:?} ({:.1} us each)",
        el.as_micros() as f64 / n as f64
    );
    let start = Instant::now();
    for _ in 0..n {
        let mut t = helm::Templates::new();
        t.parse("d", text).unwrap_or(());
    }
    let el = start.elapsed();
    println!(
        "rust: {n} parses (no funcs) in {el:?} ({:.1} us each)",
        el.as_micros() as f64 / n as f64
    );
    for (label, src) in [
        ("toYaml .Values.resources", "{{ toYaml .Values.resources }}"),
        ("field", "{{ .Values.image.repository }}"),
        (
            "printf+replace+trunc",
            "{{ printf \"%s-%s\" .Chart.Name .Chart.Version | replace \"+\" \"_\" | trunc 63 | trimSuffix \"-\" }}",
        ),
        (
            "with+toYaml+nindent",
            "{{- with .Values.podAnnotations }}{{- toYaml . | nindent 8 }}{{- end }}",
        ),
    ] {
        let mut t = base.clone();
        t.parse("x", src).unwrap();
        let start = Instant::now();
        for _ in 0..n {
            total += t.execute("x", &data).unwrap().len();
        }
        std::hint::black_box(total);
        println!(
            "rust: {label}: {:.2} us",
            start.elapsed().as_micros() as f64 / n as f64
        );
    }
    let start = Instant::now();
    for _ in 0..n {
        let _ = base.clone();
    }
    let el = start.elapsed();
    println!(
        "rust: {n} clones of the function set in {el:?} ({:.1} us each)",
        el.as_micros() as f64 / n as f64
    );
}
