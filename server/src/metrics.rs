//! Prometheus metrics (`GET /metrics`), per server instance: no global registry, so
//! several servers in one test process do not mix their figures.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The matched route pattern, never the raw path (which holds IDs).
    pub route: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: Histogram,
    pub agents_connected: Gauge,
    pub agent_auth_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("adc");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        let http_duration = Histogram::new([0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0]);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            http_duration.clone(),
        );
        let agents_connected = Gauge::default();
        registry.register(
            "agents_connected",
            "Agents connected to this replica",
            agents_connected.clone(),
        );
        let agent_auth_failures = Counter::default();
        registry.register(
            "agent_auth_failures",
            "Agent connections refused for an unknown Application ID or a wrong secret",
            agent_auth_failures.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            agents_connected,
            agent_auth_failures,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
