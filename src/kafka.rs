//! Kafka client settings shared by the source, the alert sink and
//! `kawal produce`.
//!
//! kawal owns the properties that its delivery guarantee rests on
//! (`enable.auto.offset.store=false`, manual commits, the group id and
//! brokers from `[kafka]`); everything else a deployment needs (TLS, SASL,
//! fetch tuning) passes through from `[kafka.common]`, `[kafka.consumer]`
//! and `[kafka.producer]`. Values of properties that look secret are
//! masked whenever a configuration is described in logs.

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Which client a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Consumer,
    Producer,
}

/// The librdkafka configuration for one client of `role`.
pub fn client_config(cfg: &KafkaConfig, role: Role) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    c.set("client.id", "kawal");
    // Statistics feed the consumer-lag and sink-retry metrics.
    c.set("statistics.interval.ms", "5000");
    match role {
        Role::Consumer => {
            c.set("group.id", &cfg.group_id)
                // At-least-once: an offset is stored only once every sink
                // has acknowledged the alerts of the messages before it,
                // and committed by kawal (periodically, on revoke, on exit).
                .set("enable.auto.offset.store", "false")
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false")
                .set("auto.offset.reset", "earliest")
                // One topic: cooperative-sticky, so a rebalance moves only
                // the partitions that must move (and their state), and the
                // others keep being consumed meanwhile. Several topics:
                // range, the only assignor that keeps co-partitioned
                // topics' partition N together in one consumer, so that an
                // account's events from every topic meet in one detector
                // (it is eager: every rebalance pauses all partitions).
                .set(
                    "partition.assignment.strategy",
                    if cfg.topics.len() == 1 {
                        "cooperative-sticky"
                    } else {
                        "range"
                    },
                )
                // A fetch returns as soon as there is data; this bounds the
                // wait when there is none (latency of the first event after
                // a quiet spell).
                .set("fetch.wait.max.ms", "20");
        }
        Role::Producer => {
            // Idempotence keeps retried alerts from being duplicated by the
            // broker and preserves per-account order.
            c.set("enable.idempotence", "true")
                .set("linger.ms", "2")
                .set("compression.type", "lz4");
        }
    }
    for (k, v) in &cfg.common {
        c.set(k, v);
    }
    let own = match role {
        Role::Consumer => &cfg.consumer,
        Role::Producer => &cfg.producer,
    };
    for (k, v) in own {
        c.set(k, v);
    }
    c
}

/// True for property names whose values must never be logged.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "sasl.oauthbearer.config",
        "ssl.key",
        "pem",
        "jaas",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// `name=value` pairs for logs, secrets masked, in name order.
pub fn describe(c: &ClientConfig) -> String {
    c.config_map()
        .into_iter()
        .map(|(k, v)| {
            if is_secret(k) {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn pass_through_and_managed_settings() {
        let mut cfg = Config::default().kafka;
        cfg.common
            .insert("security.protocol".into(), "SASL_SSL".into());
        cfg.common.insert("sasl.password".into(), "hunter2".into());
        cfg.consumer.insert("fetch.wait.max.ms".into(), "5".into());
        cfg.producer
            .insert("enable.idempotence".into(), "false".into());
        let c = client_config(&cfg, Role::Consumer);
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("fetch.wait.max.ms"), Some("5"));
        assert_eq!(c.get("enable.idempotence"), None);
        let p = client_config(&cfg, Role::Producer);
        assert_eq!(p.get("enable.idempotence"), Some("false"));
        assert_eq!(p.get("group.id"), None);
        let text = describe(&c);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("sasl.password=***"), "{text}");
        assert!(text.contains("security.protocol=SASL_SSL"), "{text}");
    }
}

/// librdkafka's logs and errors, made readable for a person on call. One
/// per pipeline (or `kawal produce` run), shared by its clients.
///
/// Without it, a broker that is down produced about 1,500 raw librdkafka
/// lines in 30 s (every client logs every reconnect attempt twice, as a
/// log line and as an error) and never one line saying what was wrong.
/// Now: transport failures become one kawal line when they start
/// (`cannot reach 127.0.0.1:9092; retrying`), one every 30 s while they
/// last (`... for 60 s`), and one when it recovers; librdkafka's own log
/// lines are mapped to tracing levels (its errors are warnings: it
/// retries, and kawal's line says the consequence) and each facility
/// speaks at most once per 30 s, saying how many lines it held back;
/// `/readyz` and `kawal produce` read [`Health::unreachable`].
pub struct Health {
    brokers: String,
    state: std::sync::Mutex<HealthState>,
}

#[derive(Default)]
struct HealthState {
    down_since: Option<std::time::Instant>,
    reason: String,
    reported: Option<std::time::Instant>,
    /// Per log facility: when it last spoke, lines held back since.
    logs: std::collections::HashMap<String, (std::time::Instant, u64)>,
}

/// How often a repeated condition is said again.
const REPEAT: std::time::Duration = std::time::Duration::from_secs(30);

impl Health {
    pub fn new(brokers: &str) -> std::sync::Arc<Health> {
        std::sync::Arc::new(Health {
            brokers: brokers.to_string(),
            state: Default::default(),
        })
    }

    /// Whether an error means the brokers cannot be reached.
    pub fn is_transport(error: &rdkafka::error::KafkaError) -> bool {
        use rdkafka::types::RDKafkaErrorCode as C;
        matches!(
            error.rdkafka_error_code(),
            Some(
                C::AllBrokersDown
                    | C::BrokerTransportFailure
                    | C::Resolve
                    | C::BrokerNotAvailable
                    | C::NetworkException
                    | C::RequestTimedOut
            )
        )
    }

    /// An error from librdkafka's error callback.
    pub fn error(&self, error: &rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as C;
        let transport = Self::is_transport(error);
        let mut s = self.state.lock().expect("health");
        let now = std::time::Instant::now();
        if transport {
            let since = *s.down_since.get_or_insert(now);
            // librdkafka's "all brokers down" summary says less than the
            // connection failure before it: keep that one.
            if s.reason.is_empty() || error.rdkafka_error_code() != Some(C::AllBrokersDown) {
                s.reason = crate::detect::budget::capped(reason, 300).into_owned();
            }
            if s.reported.is_none_or(|r| now - r >= REPEAT) {
                s.reported = Some(now);
                let secs = (now - since).as_secs();
                if secs == 0 {
                    tracing::warn!(brokers = %self.brokers, reason = %s.reason, "cannot reach {}; retrying", self.brokers);
                } else {
                    tracing::warn!(brokers = %self.brokers, reason = %s.reason, "cannot reach {} for {secs} s; retrying", self.brokers);
                }
            }
        } else if Self::may_speak(&mut s, "error", now) {
            tracing::warn!(error = %error, reason = %crate::detect::budget::capped(reason, 300), "kafka client error");
        }
    }

    /// A line from librdkafka's log callback.
    pub fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        let mut s = self.state.lock().expect("health");
        let now = std::time::Instant::now();
        let held = s.logs.get(fac).map_or(0, |e| e.1);
        if !Self::may_speak(&mut s, fac, now) {
            return;
        }
        let message = crate::detect::budget::capped(message, 500);
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning => {
                tracing::warn!(facility = fac, held_back = held, "librdkafka: {message}")
            }
            L::Notice => tracing::info!(facility = fac, held_back = held, "librdkafka: {message}"),
            L::Info | L::Debug => {
                tracing::debug!(facility = fac, held_back = held, "librdkafka: {message}")
            }
        }
    }

    /// Whether `key` may log now (once per [`REPEAT`]); counts it if not.
    fn may_speak(s: &mut HealthState, key: &str, now: std::time::Instant) -> bool {
        if s.logs.len() > 256 && !s.logs.contains_key(key) {
            return false; // bound: facilities are a small fixed set
        }
        let e = s.logs.entry(key.to_string()).or_insert((now - REPEAT, 0));
        if now - e.0 >= REPEAT {
            *e = (now, 0);
            true
        } else {
            e.1 += 1;
            false
        }
    }

    /// The brokers answered (a message, or statistics showing one up).
    pub fn up(&self) {
        let mut s = self.state.lock().expect("health");
        if let Some(since) = s.down_since.take() {
            s.reason.clear();
            tracing::info!(brokers = %self.brokers, "brokers reachable again after {} s", since.elapsed().as_secs());
            s.reported = None;
        }
    }

    /// How long the brokers have been unreachable, and why.
    pub fn unreachable(&self) -> Option<(std::time::Duration, String)> {
        let s = self.state.lock().expect("health");
        s.down_since.map(|t| (t.elapsed(), s.reason.clone()))
    }

    /// Marks the brokers up when librdkafka's statistics show one up.
    pub fn from_stats(&self, stats: &rdkafka::Statistics) {
        if stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP")
        {
            self.up();
        }
    }

    /// A sentence for `/readyz` and errors.
    pub fn describe(&self) -> Option<String> {
        self.unreachable().map(|(d, why)| {
            format!(
                "cannot reach {} for {} s ({why})",
                self.brokers,
                d.as_secs()
            )
        })
    }
}
