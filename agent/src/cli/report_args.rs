//! The `run` options of reporting and webhooks, flattened into `pi-agent run`.

use std::path::{Path, PathBuf};

use crate::report::ReportConfig;
use crate::report::outbox::OutboxConfig;

/// Reporting and webhook options of `pi-agent run` (each also from the environment).
#[derive(clap::Args, Clone, Debug)]
pub struct ReportArgs {
    /// Region name, in console events and commit status contexts (`pi-agent/<region>/…`).
    #[arg(long, default_value = "default", env = "PI_AGENT_REGION")]
    pub region: String,
    /// Console URL receiving every Application's outcomes (Flux generic-hmac JSON events).
    #[arg(long, env = "PI_AGENT_REPORT_URL")]
    pub report_url: Option<String>,
    /// File holding the HMAC key signing events sent to `--report-url` (`X-Signature`).
    #[arg(long, env = "PI_AGENT_REPORT_HMAC_KEY_FILE")]
    pub report_hmac_key_file: Option<PathBuf>,
    /// Most reports waiting for delivery; past it the oldest is dropped (and counted).
    #[arg(long, default_value_t = 1000, env = "PI_AGENT_REPORT_OUTBOX_SIZE")]
    pub report_outbox_size: usize,
    /// Longest wait between delivery attempts to one receiver, as a duration.
    #[arg(long, default_value = "1m", env = "PI_AGENT_REPORT_MAX_BACKOFF")]
    pub report_max_backoff: String,
    /// Timeout of one report request, as a duration.
    #[arg(long, default_value = "10s", env = "PI_AGENT_REPORT_TIMEOUT")]
    pub report_timeout: String,
    /// File holding the shared secret of the push webhooks (`/hooks/…`): GitLab's token, the
    /// HMAC key of GitHub's and the generic receiver's signatures. Without it, pushes are refused.
    #[arg(long, env = "PI_AGENT_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Proxies in front of the agent (an ingress: address or CIDR block; repeatable or
    /// comma-separated) whose `X-Forwarded-For` names the client the webhook rate limit counts.
    #[arg(
        long = "webhook-trusted-proxy",
        env = "PI_AGENT_WEBHOOK_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub webhook_trusted_proxies: Vec<crate::server::webhook::Cidr>,
}

impl ReportArgs {
    /// Validates the options.
    ///
    /// # Errors
    /// A message naming the option at fault.
    pub fn config(&self) -> Result<ReportConfig, String> {
        let duration = |flag: &str, text: &str| {
            crate::error::parse_duration(text).map_err(|e| format!("`--{flag} {text}`: {e}"))
        };
        if let Some(url) = &self.report_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(format!("`--report-url {url}`: not an http(s) URL")),
            }
        }
        for (flag, file) in [
            ("report-hmac-key-file", &self.report_hmac_key_file),
            ("webhook-secret-file", &self.webhook_secret_file),
        ] {
            // The webhook secret may be an optional Secret not created yet (its directory is
            // mounted): pushes are refused until it appears.
            let optional = flag == "webhook-secret-file";
            if let Some(f) = file
                && let Err(e) = std::fs::metadata(f)
                && !(optional
                    && e.kind() == std::io::ErrorKind::NotFound
                    && f.parent().is_some_and(Path::is_dir))
            {
                return Err(format!("`--{flag} {}`: {e}", f.display()));
            }
        }
        if self.report_hmac_key_file.is_some() && self.report_url.is_none() {
            return Err("`--report-hmac-key-file` needs `--report-url`".into());
        }
        if self.report_outbox_size == 0 {
            return Err("`--report-outbox-size` must be at least 1".into());
        }
        let region = self.region.trim();
        if region.is_empty() || region.contains('/') || region.contains(char::is_whitespace) {
            return Err(format!(
                "`--region {}`: a non-empty name without `/` or spaces",
                self.region
            ));
        }
        Ok(ReportConfig {
            region: region.to_owned(),
            console_url: self.report_url.clone(),
            console_key_file: self.report_hmac_key_file.clone(),
            outbox: OutboxConfig {
                capacity: self.report_outbox_size,
                max_backoff: duration("report-max-backoff", &self.report_max_backoff)?,
                timeout: duration("report-timeout", &self.report_timeout)?,
            },
            ..ReportConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        r: ReportArgs,
    }

    #[test]
    fn defaults_should_validate_and_bad_values_should_be_named() {
        let c = T::parse_from(["t"]).r.config().unwrap();
        assert_eq!(c.region, "default");
        assert_eq!(c.outbox.capacity, 1000);
        assert_eq!(c.outbox.max_backoff, std::time::Duration::from_secs(60));
        for (args, flag) in [
            (vec!["t", "--report-url", "ftp://x"], "--report-url"),
            (vec!["t", "--region", "a/b"], "--region"),
            (
                vec!["t", "--report-max-backoff", "soon"],
                "--report-max-backoff",
            ),
            (
                vec!["t", "--report-outbox-size", "0"],
                "--report-outbox-size",
            ),
            (
                vec!["t", "--webhook-secret-file", "/nonexistent/x"],
                "--webhook-secret-file",
            ),
        ] {
            let e = T::parse_from(args).r.config().unwrap_err();
            assert!(e.contains(flag), "{e}");
        }
    }
}
