//! Runs the agent's fuzz bodies on real-shaped payloads and deterministic mutations of them, on
//! stable: no input may panic. `PI_AGENT_FUZZ_ITERATIONS` (default 2,000) per seed for a longer
//! run.

use pi_agent::server::webhook::fuzz_push;
use pi_verify::fuzzing::Mutator;

/// A GitLab `Push Hook` body, shaped as GitLab documents it.
const GITLAB: &str = r#"{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","project":{"id":15,"name":"infra","web_url":"https://gitlab.example/infra/team-a","git_ssh_url":"git@gitlab.example:infra/team-a.git","git_http_url":"https://gitlab.example/infra/team-a.git","path_with_namespace":"infra/team-a","default_branch":"main"},"commits":[],"total_commits_count":1}"#;

/// A GitHub `push` body.
const GITHUB: &str = r#"{"ref":"refs/tags/v1.2.0","before":"0000000000000000000000000000000000000000","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","created":true,"deleted":false,"forced":false,"repository":{"full_name":"octo/infra","html_url":"https://github.com/octo/infra","clone_url":"https://github.com/octo/infra.git","ssh_url":"git@github.com:octo/infra.git","git_url":"git://github.com/octo/infra.git"},"pusher":{"name":"octo"}}"#;

fn iterations() -> usize {
    std::env::var("PI_AGENT_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn push_payloads_and_their_mutations_should_never_panic() {
    let mut m = Mutator::new(0x5eed_0001);
    for seed in [GITLAB, GITHUB, "{}", "[]", "null", ""] {
        fuzz_push(seed.as_bytes());
        for _ in 0..iterations() {
            fuzz_push(&m.mutate(seed.as_bytes()));
        }
    }
    // Deep nesting and a large body stay bounded too.
    fuzz_push("[".repeat(100_000).as_bytes());
    fuzz_push(format!("{{\"ref\":\"{}\"}}", "x".repeat(1 << 20)).as_bytes());
}

/// Manifests with `${…}` forms, through post-build substitution.
const MANIFEST: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-${env:=dev}\n  labels: {zone: \"${zone:-eu}\"}\ndata:\n  a: ${a}\n  b: $${literal} $HOME ${a:0:1} ${a/x/y} ${#a} ${a^^}\n  c: &x [1, *x]\n  d: |\n    ${a}\n";

#[test]
fn substituted_manifests_and_their_mutations_should_never_panic() {
    let mut m = Mutator::new(0x5eed_0002);
    for seed in [MANIFEST, "${", "$${a", "${a:=${b:=${c}}}", "a: ${a}\n"] {
        pi_agent::render::substitute::fuzz_substitute(seed.as_bytes());
        for _ in 0..iterations() {
            pi_agent::render::substitute::fuzz_substitute(&m.mutate(seed.as_bytes()));
        }
    }
    pi_agent::render::substitute::fuzz_substitute("${a:=".repeat(10_000).as_bytes());
    pi_agent::render::substitute::fuzz_substitute("[".repeat(100_000).as_bytes());
}
