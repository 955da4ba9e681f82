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
                // Range assignment keeps co-partitioned topics' partition
                // N together in one consumer, so an account's events from
                // several topics meet in one detector.
                .set("partition.assignment.strategy", "range")
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
