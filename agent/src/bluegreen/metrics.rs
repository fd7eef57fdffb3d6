//! Blue-green metrics, registered in the agent's registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Event;

/// Labels of switch outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SwitchLabels {
    /// Namespace of the Application.
    pub namespace: String,
    /// Name of the Application.
    pub name: String,
    /// `started`, `promoted` or `aborted`.
    pub result: String,
}

/// `pi_agent_bluegreen_switches_total` and `pi_agent_bluegreen_switch_duration_seconds`.
#[derive(Clone)]
pub struct Metrics {
    /// Switches by result.
    pub switches: Family<SwitchLabels, Counter>,
    /// From the start of a switch to the promotion.
    pub duration: Histogram,
}

impl Metrics {
    /// Creates the metrics and registers them (prefix of `registry`, then `bluegreen_`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Metrics {
            switches: Family::default(),
            duration: Histogram::new([1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0]),
        };
        registry.register(
            "bluegreen_switches",
            "Blue-green switches started, promoted and aborted",
            m.switches.clone(),
        );
        registry.register(
            "bluegreen_switch_duration_seconds",
            "Time from the start of a blue-green switch to its promotion",
            m.duration.clone(),
        );
        m
    }

    /// Counts one event.
    pub fn record(&self, namespace: &str, name: &str, event: &Event) {
        let result = match event {
            Event::Started { .. } => "started",
            Event::Promoted { seconds, .. } => {
                self.duration.observe(*seconds);
                "promoted"
            }
            Event::Aborted { .. } => "aborted",
        };
        self.switches
            .get_or_create(&SwitchLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Forgets an Application's series.
    pub fn forget(&self, namespace: &str, name: &str) {
        for result in ["started", "promoted", "aborted"] {
            self.switches.remove(&SwitchLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                result: result.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_should_be_exported_under_documented_names() {
        let mut registry = Registry::with_prefix("pi_agent");
        let m = Metrics::register(&mut registry);
        m.record(
            "a",
            "b",
            &Event::Promoted {
                revision: "r".into(),
                seconds: 4.0,
            },
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            "pi_agent_bluegreen_switches_total{namespace=\"a\",name=\"b\",result=\"promoted\"} 1"
        ));
        assert!(text.contains("pi_agent_bluegreen_switch_duration_seconds_count 1"));
    }
}
