//! `pi-agent status`: the Applications as a table (like `flux get kustomizations`) or JSON,
//! once or on every change (`--watch`).

use std::path::PathBuf;
use std::process::ExitCode;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde::Serialize;

use crate::api::Application;
use crate::report::conditions::READY;

/// Options of `pi-agent status`.
#[derive(clap::Args, Clone, Debug)]
pub struct StatusArgs {
    /// Every namespace.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// This namespace (default: the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// `table` or `json`.
    #[arg(long, short = 'o', default_value = "table")]
    pub output: Output,
    /// Print again on every change, until interrupted.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// A JSON array (one document per change with `--watch`).
    Json,
}

/// One Application, as shown.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `True`, `False` or `Unknown`.
    pub ready: String,
    /// The `Ready` reason.
    pub reason: String,
    /// The last applied revision (full).
    pub revision: String,
    /// Since creation, as kubectl prints it.
    pub age: String,
    /// The `Ready` message.
    pub message: String,
    /// `spec.sync.suspend`.
    pub suspended: bool,
}

/// The row of an Application at `now`.
pub fn row_of(app: &Application, now: Timestamp) -> Row {
    let ready = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let age = app
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| {
            let secs = now.as_second().saturating_sub(t.0.as_second()).max(0);
            human_age(secs as u64)
        })
        .unwrap_or_else(|| "<unknown>".into());
    Row {
        namespace: app.metadata.namespace.clone().unwrap_or_default(),
        name: app.metadata.name.clone().unwrap_or_default(),
        ready: ready.map_or("Unknown", |c| c.status.as_str()).to_owned(),
        reason: ready.map(|c| c.reason.clone()).unwrap_or_default(),
        revision: app
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.clone())
            .unwrap_or_default(),
        age,
        message: ready
            .map(|c| c.message.replace('\n', " "))
            .unwrap_or_default(),
        suspended: app.spec.sync.suspend,
    }
}

/// `main@sha1:0123456789…` → `main@sha1:0123456` (7 hex digits, as `git log --oneline`).
pub fn short_revision(revision: &str) -> String {
    match revision.rsplit_once("sha1:") {
        Some((prefix, hex)) => format!("{prefix}sha1:{}", &hex[..hex.len().min(7)]),
        None => revision.to_owned(),
    }
}

/// An age as kubectl prints it: `45s`, `3m12s`, `42m`, `5h3m`, `12h`, `3d4h`, `40d`, `2y10d`.
pub fn human_age(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{m}m{}s", s % 60),
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 => format!("{h}h{}m", m % 60),
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86400 => format!("{d}d{}h", h % 24),
        s if s < 365 * 86400 => format!("{d}d"),
        _ => format!("{}y{}d", d / 365, d % 365),
    }
}

/// The table, columns aligned; NAMESPACE only with `all_namespaces`.
pub fn table(rows: &[Row], all_namespaces: bool) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["NAME", "READY", "REVISION", "AGE", "MESSAGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    lines.push(header.iter().map(|s| (*s).to_owned()).collect());
    for r in rows {
        let mut line = vec![
            r.name.clone(),
            if r.suspended {
                format!("{} (suspended)", r.ready)
            } else {
                r.ready.clone()
            },
            short_revision(&r.revision),
            r.age.clone(),
            r.message.clone(),
        ];
        if all_namespaces {
            line.insert(0, r.namespace.clone());
        }
        lines.push(line);
    }
    let columns = lines[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let mut text = String::new();
        for (i, cell) in l.iter().enumerate() {
            if i + 1 == columns {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// Rows of Applications, sorted by namespace and name.
pub fn rows<'a>(apps: impl IntoIterator<Item = &'a Application>, now: Timestamp) -> Vec<Row> {
    let mut rows: Vec<Row> = apps.into_iter().map(|a| row_of(a, now)).collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rows
}

fn render(rows: &[Row], args: &StatusArgs) -> String {
    match args.output {
        Output::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(rows).unwrap_or_default()
        ),
        Output::Table if rows.is_empty() => "no Application found\n".to_owned(),
        Output::Table => table(rows, args.all_namespaces),
    }
}

/// Runs `pi-agent status`: exit 0, or 2 with the error.
pub fn main(args: StatusArgs) -> ExitCode {
    let runtime = match crate::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("cannot read kubeconfig `{}`: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    let client = kube::Client::try_from(config)?;
    let api: Api<Application> = match (&args.namespace, args.all_namespaces) {
        (_, true) => Api::all(client),
        (Some(ns), false) => Api::namespaced(client, ns),
        (None, false) => Api::default_namespaced(client),
    };
    if !args.watch {
        let list = api.list(&Default::default()).await?;
        print!("{}", render(&rows(&list.items, Timestamp::now()), args));
        return Ok(());
    }
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    futures::pin_mut!(stream);
    let mut last = String::new();
    let mut synced = false;
    while let Some(event) = stream.next().await {
        match event? {
            watcher::Event::InitDone => synced = true,
            watcher::Event::Init | watcher::Event::InitApply(_) => continue,
            _ => {}
        }
        if !synced {
            continue;
        }
        let apps = reader.state();
        // Ages are left out of the comparison: only a change of state prints again.
        let now = Timestamp::now();
        let mut current = rows(apps.iter().map(|a| a.as_ref()), now);
        let key = {
            for r in &mut current {
                r.age.clear();
            }
            render(&current, args)
        };
        if key != last {
            let shown = rows(apps.iter().map(|a| a.as_ref()), now);
            if !last.is_empty() && args.output == Output::Table {
                println!();
            }
            print!("{}", render(&shown, args));
            last = key;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(ns: &str, name: &str, ready: Option<(&str, &str)>) -> Application {
        let mut v = json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"source": {"url": "https://x/y.git"}}
        });
        if let Some((status, message)) = ready {
            v["status"] = json!({
                "conditions": [{"type": "Ready", "status": status, "reason": "R", "message": message,
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567"
            });
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ages_should_read_as_kubectl_prints_them() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (192, "3m12s"),
            (42 * 60, "42m"),
            (5 * 3600 + 180, "5h3m"),
            (12 * 3600, "12h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (40 * 86400, "40d"),
            (740 * 86400, "2y10d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_age(secs), want, "{secs}");
        }
    }

    #[test]
    fn table_should_align_columns_and_shorten_revisions() {
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let apps = [
            app(
                "team-b",
                "web",
                Some(("True", "Applied revision: main@sha1:0123")),
            ),
            app("team-a", "api-server", Some(("False", "bad\nyaml"))),
            app("team-a", "new", None),
        ];
        let t = table(&rows(apps.iter(), now), true);
        let expected = "\
NAMESPACE   NAME         READY     REVISION            AGE    MESSAGE
team-a      api-server   False     main@sha1:0123456   5m0s   bad yaml
team-a      new          Unknown                       5m0s
team-b      web          True      main@sha1:0123456   5m0s   Applied revision: main@sha1:0123
";
        assert_eq!(t, expected);
        let one_ns = table(&rows(apps[..1].iter(), now), false);
        assert!(one_ns.starts_with("NAME   READY"));
        assert_eq!(short_revision("sha1:abc"), "sha1:abc");
        assert_eq!(short_revision("v1"), "v1");
    }

    #[test]
    fn json_output_should_keep_full_revisions() {
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let args = StatusArgs {
            all_namespaces: false,
            namespace: None,
            output: Output::Json,
            watch: false,
            kubeconfig: None,
        };
        let out = render(
            &rows([app("a", "b", Some(("True", "ok")))].iter(), now),
            &args,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v[0]["revision"],
            "main@sha1:0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(v[0]["ready"], "True");
    }
}
