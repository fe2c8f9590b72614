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

/// A run that ended on this replica.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub synchronization_id: String,
    pub status: String,
}

/// A pass-through authentication's answer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    pub outcome: String,
}

/// A notification delivery attempt: `channel` webhook or email, `outcome` delivered,
/// retrying (an attempt failed, another follows) or gave_up.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    pub outcome: String,
}

/// A synchronization, in the state metrics read from the database at each scrape.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    pub tenant_id: String,
    pub synchronization_id: String,
    pub synchronization: String,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: Histogram,
    pub agents_connected: Gauge,
    pub agent_auth_failures: Counter,
    pub runs_finished: Family<RunLabels, Counter>,
    /// From a batch's arrival to its acknowledgement (looked up, planned, written).
    pub batch_seconds: Histogram,
    /// Per run that applied anything: users and groups written per second.
    pub run_users_per_second: Histogram,
    pub authentications: Family<AuthLabels, Counter>,
    pub authentication_seconds: Histogram,
    pub notification_deliveries: Family<DeliveryLabels, Counter>,
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
        let runs_finished = Family::<RunLabels, Counter>::default();
        registry.register(
            "runs_finished",
            "Runs that ended on this replica, by synchronization and status",
            runs_finished.clone(),
        );
        let batch_seconds =
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]);
        registry.register(
            "batch_apply_seconds",
            "From a batch's arrival to its acknowledgement: looked up, planned and written",
            batch_seconds.clone(),
        );
        let run_users_per_second =
            Histogram::new([100.0, 1000.0, 5000.0, 20000.0, 50000.0, 100000.0, 200000.0]);
        registry.register(
            "run_users_applied_per_second",
            "Per run that wrote anything: users and groups created, updated or unchanged per second of the run",
            run_users_per_second.clone(),
        );
        let authentications = Family::<AuthLabels, Counter>::default();
        registry.register(
            "authentications",
            "Pass-through authentications answered, by outcome",
            authentications.clone(),
        );
        let authentication_seconds =
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0]);
        registry.register(
            "authentication_duration_seconds",
            "Time to answer a pass-through authentication",
            authentication_seconds.clone(),
        );
        let notification_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notification_deliveries",
            "Webhook and e-mail delivery attempts made by this replica, by outcome",
            notification_deliveries.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            agents_connected,
            agent_auth_failures,
            runs_finished,
            batch_seconds,
            run_users_per_second,
            authentications,
            authentication_seconds,
            notification_deliveries,
        }
    }
}

impl Metrics {
    /// This replica's metrics, then the synchronizations' state (read from the database
    /// for this scrape), as one OpenMetrics text.
    pub fn render(&self, states: &[crate::db::health_state::SyncState]) -> String {
        use prometheus_client::metrics::gauge::Gauge as G;
        use std::sync::atomic::AtomicU64;
        let mut per_scrape = Registry::with_prefix("adc_synchronization");
        let family = |reg: &mut Registry, name: &str, help: &str| {
            let f = Family::<SyncLabels, G<f64, AtomicU64>>::default();
            reg.register(name, help, f.clone());
            f
        };
        let users = family(&mut per_scrape, "users", "Users the synchronization holds");
        let age = family(
            &mut per_scrape,
            "last_success_age_seconds",
            "Seconds since the synchronization's last successful run (absent: never)",
        );
        let schedule = family(
            &mut per_scrape,
            "schedule_seconds",
            "The synchronization's schedule interval (absent: runs only when started)",
        );
        let held = family(
            &mut per_scrape,
            "held_runs",
            "Held runs waiting for a decision",
        );
        let held_age = family(
            &mut per_scrape,
            "oldest_held_run_age_seconds",
            "Seconds the oldest held run has waited (absent: none waits)",
        );
        let agents = family(
            &mut per_scrape,
            "agents_connected",
            "Agents of the synchronization connected to any replica",
        );
        let now = time::OffsetDateTime::now_utc();
        let since = |t: time::OffsetDateTime| (now - t).as_seconds_f64().max(0.0);
        for s in states {
            let l = SyncLabels {
                tenant_id: s.tenant_id.to_string(),
                synchronization_id: s.id.to_string(),
                synchronization: s.name.clone(),
            };
            users.get_or_create(&l).set(s.users as f64);
            held.get_or_create(&l).set(s.held as f64);
            agents.get_or_create(&l).set(s.agents as f64);
            if let Some(t) = s.last_success {
                age.get_or_create(&l).set(since(t));
            }
            if let Some(m) = s.schedule_minutes.filter(|m| *m > 0) {
                schedule.get_or_create(&l).set(f64::from(m) * 60.0);
            }
            if let Some(t) = s.oldest_held {
                held_age.get_or_create(&l).set(since(t));
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .expect("writing to a String");
        prometheus_client::encoding::text::encode_registry(&mut out, &per_scrape)
            .expect("writing to a String");
        prometheus_client::encoding::text::encode_eof(&mut out).expect("writing to a String");
        out
    }
}
