//! Configuration: embedded defaults, then a file, then `KAWAL__` variables.
//!
//! `config/default.toml` is compiled in and is also the schema: it lists
//! every key, so a key it lacks is unknown, and its values give each key's
//! type. Layers are merged as TOML tables and checked against it in one
//! pass that collects every problem (unknown keys, wrong types, bad
//! durations, inconsistent thresholds), so a user fixing a config sees all
//! of them at once instead of one per run. Only then is the merged table
//! deserialised into [`Config`], whose structs also deny unknown fields as
//! a second guard.
//!
//! An empty table in the defaults (`[kafka.consumer]`, ...) is free-form:
//! it passes librdkafka properties through, any name, with strings,
//! numbers and booleans turned into the strings librdkafka expects.
//!
//! Environment variables use `__` between path segments:
//! `KAWAL__SEVERITY__HIGH=8` sets `[severity] high`. Their values are read
//! as TOML (`8`, `true`, `["a","b"]`), except for keys whose default is a
//! string and for librdkafka properties, which take the value verbatim.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use toml::{Table, Value};

use crate::time::{Millis, parse_duration};

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
pub const ENV_PREFIX: &str = "KAWAL__";

/// librdkafka properties that kawal owns: overriding them would break
/// at-least-once delivery or partition ownership.
pub const MANAGED_PROPERTIES: &[&str] = &[
    "enable.auto.offset.store",
    "group.id",
    "bootstrap.servers",
    "enable.partition.eof",
    "enable.auto.commit",
    // Set from [kafka] instance and the worker number (static membership).
    "group.instance.id",
    // Cooperative-sticky for one topic, range for co-partitioned topics.
    "partition.assignment.strategy",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub detect: DetectConfig,
    pub learning: LearningConfig,
    pub severity: SeverityConfig,
    pub travel: TravelConfig,
    pub familiar: FamiliarConfig,
    pub posting: PostingConfig,
    pub networks: NetworksConfig,
    pub apps: AppsConfig,
    pub weights: Weights,
    pub geoip: GeoipConfig,
    pub kafka: KafkaConfig,
    pub metrics: MetricsConfig,
    pub output: OutputConfig,
    pub replay: ReplayConfig,
    pub log: LogConfig,
    pub time: TimeConfig,
    pub state: StateConfig,
    pub delivery: DeliveryConfig,
    pub feedback: FeedbackConfig,
    pub suppressions: SuppressionsConfig,
    pub postgres: PostgresConfig,
    /// `[[webhooks]]`, each merged over `[delivery.webhook]`.
    pub webhooks: Vec<WebhookConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub outbox_dir: String,
    pub fsync: String,
    pub retry_schedule: Vec<String>,
    pub attempt_timeout: String,
    pub concurrency: usize,
    pub segment_bytes: u64,
    pub max_bytes: u64,
    pub replay_wait: String,
    pub resend_interval: String,
    pub ends_after: String,
    pub resolve_after: String,
    pub webhook: WebhookConfig,
}

impl DeliveryConfig {
    /// One of this section's durations (validated at load).
    pub fn duration(v: &str) -> std::time::Duration {
        std::time::Duration::from_millis(parse_duration(v).unwrap_or(0).max(0) as u64)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    pub secret: String,
    pub secret_env: String,
    pub format: String,
    pub min_severity: String,
    pub accounts: Vec<String>,
    pub routing_key: String,
    pub routing_key_env: String,
    pub source: String,
    pub rate_per_second: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    pub max_accounts: usize,
    pub idle_ttl: String,
    pub dir: String,
    pub topic: String,
    pub snapshot_interval: String,
    pub restore_timeout: String,
    pub cold_start: String,
}

impl StateConfig {
    pub fn idle_ttl_ms(&self) -> Millis {
        parse_duration(&self.idle_ttl).unwrap_or(0)
    }
    pub fn snapshot_interval_ms(&self) -> Millis {
        parse_duration(&self.snapshot_interval).unwrap_or(300_000)
    }
    pub fn restore_timeout_ms(&self) -> Millis {
        parse_duration(&self.restore_timeout).unwrap_or(60_000)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    pub allowed_lateness: String,
    pub future_tolerance: String,
    pub replay_future_tolerance: String,
}

impl TimeConfig {
    pub fn allowed_lateness_ms(&self) -> Millis {
        parse_duration(&self.allowed_lateness).unwrap_or(0)
    }
    pub fn future_tolerance_ms(&self) -> Millis {
        parse_duration(&self.future_tolerance).unwrap_or(0)
    }
    pub fn replay_future_tolerance_ms(&self) -> Millis {
        parse_duration(&self.replay_future_tolerance).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub short_window: String,
    pub long_window: String,
    pub open_threshold: f64,
    pub join_threshold: f64,
    pub risky_access: f64,
    pub max_evidence: usize,
    pub alert_max_bytes: usize,
    pub long_window_weight: f64,
    pub evidence_half_life: String,
    pub vouch_window: String,
    pub onboarding_window: String,
    pub vouched_weight: f64,
    pub repage_after: String,
}

impl DetectConfig {
    pub fn short_window_ms(&self) -> Millis {
        parse_duration(&self.short_window).unwrap_or(0)
    }
    pub fn long_window_ms(&self) -> Millis {
        parse_duration(&self.long_window).unwrap_or(0)
    }
    pub fn evidence_half_life_ms(&self) -> Millis {
        parse_duration(&self.evidence_half_life).unwrap_or(0)
    }
    pub fn vouch_window_ms(&self) -> Millis {
        parse_duration(&self.vouch_window).unwrap_or(0)
    }
    pub fn onboarding_window_ms(&self) -> Millis {
        parse_duration(&self.onboarding_window).unwrap_or(0)
    }
    pub fn repage_after_ms(&self) -> Millis {
        parse_duration(&self.repage_after).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningConfig {
    pub min_days: u32,
    pub min_events: u32,
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityConfig {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
    pub access_only_min: String,
    pub action_only_min: String,
    pub posting_habits_max: String,
    pub hour_and_client_max: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TravelConfig {
    pub max_speed_kmh: f64,
    pub min_distance_km: f64,
    pub default_accuracy_km: f64,
    pub regular_place_logins: u32,
}

/// How often a value must have been seen on an account before it counts
/// as the account's own (`[familiar]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamiliarConfig {
    pub network_uses: u16,
    pub ip_range_uses: u16,
    pub device_uses: u16,
    pub country_uses: u16,
    pub established_actions: u16,
    pub admin_actions: u16,
    pub place_radius_km: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingConfig {
    pub burst_window: String,
    pub burst_min_posts: u32,
    pub burst_dispersion: f64,
    pub min_posts_for_hours: u32,
    pub weekend_utc_offset_minutes: i32,
}

impl PostingConfig {
    pub fn burst_window_ms(&self) -> Millis {
        parse_duration(&self.burst_window).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworksConfig {
    pub builtin_hosting_asns: bool,
    pub hosting_asns: Vec<u64>,
    pub hosting_org_keywords: Vec<String>,
    pub corporate_asns: Vec<u64>,
    pub mobile_org_keywords: Vec<String>,
    pub automation_user_agents: Vec<String>,
    pub platform_tokens: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppsConfig {
    pub management_apps: Vec<String>,
    pub trusted_link_domains: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub attacker_new_country: f64,
    pub attacker_new_network: f64,
    pub attacker_new_ip_range: f64,
    pub attacker_new_device: f64,
    pub attacker_new_user_agent: f64,
    pub attacker_new_actor: f64,
    pub attacker_hosting: f64,
    pub attacker_known_device: f64,
    pub novelty_cap: f64,
    pub correlated_novelty: f64,
    pub automation_user_agent: f64,
    pub failed_login_burst: f64,
    pub mfa_disabled: f64,
    pub mfa_method_removed: f64,
    pub recovery_changed: f64,
    pub password_reset: f64,
    pub password_changed: f64,
    pub role_granted_to_new_actor: f64,
    pub role_granted_admin_to_new_actor: f64,
    pub role_granted_by_new_actor: f64,
    pub admin_revoked: f64,
    pub app_granted: f64,
    pub profile_handle: f64,
    pub profile_display_name: f64,
    pub profile_avatar: f64,
    pub profile_other: f64,
    pub sequence: f64,
    pub security_cluster: f64,
    pub posts_via_new_app: f64,
    pub posts_via_new_app_soon: f64,
    pub session_without_sign_in: f64,
    pub session_moved: f64,
    pub familiar_change: f64,
    pub session_residential: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    pub city_db: String,
    pub asn_db: String,
    pub anonymous_db: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
    pub instance: String,
    pub topics: Vec<String>,
    pub alerts_topic: String,
    pub alerts_format: String,
    pub dead_letter_topic: String,
    pub workers: usize,
    pub batch_max: usize,
    pub batch_linger: String,
    pub commit_interval: String,
    pub drain_timeout: String,
    /// librdkafka properties for every client (values already strings).
    pub common: BTreeMap<String, String>,
    pub consumer: BTreeMap<String, String>,
    pub producer: BTreeMap<String, String>,
    /// `[kafka.adapt]`: vendor topics relayed as native events.
    pub adapt: AdaptTopics,
}

/// `[kafka.adapt]`: the topics of each vendor format (docs/adapters/).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptTopics {
    pub okta: Vec<String>,
    pub entra: Vec<String>,
    pub google_workspace: Vec<String>,
    pub ocsf: Vec<String>,
    pub to: String,
}

impl AdaptTopics {
    /// Every vendor topic with its format.
    pub fn inputs(&self) -> Vec<(String, crate::adapt::Format)> {
        use crate::adapt::Format;
        [
            (&self.okta, Format::Okta),
            (&self.entra, Format::Entra),
            (&self.google_workspace, Format::GoogleWorkspace),
            (&self.ocsf, Format::Ocsf),
        ]
        .into_iter()
        .flat_map(|(topics, f)| topics.iter().map(move |t| (t.clone(), f)))
        .collect()
    }

    /// Where the native events go.
    pub fn destination<'a>(&'a self, kafka: &'a KafkaConfig) -> &'a str {
        if self.to.is_empty() {
            kafka.topics.first().map_or("", |t| t.as_str())
        } else {
            &self.to
        }
    }
}

impl KafkaConfig {
    pub fn batch_linger_ms(&self) -> Millis {
        parse_duration(&self.batch_linger).unwrap_or(0)
    }
    pub fn commit_interval_ms(&self) -> Millis {
        parse_duration(&self.commit_interval).unwrap_or(5_000)
    }
    pub fn drain_timeout_ms(&self) -> Millis {
        parse_duration(&self.drain_timeout).unwrap_or(15_000)
    }
}

/// `[feedback]`: analyst verdicts through the admin endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    pub token: String,
    pub token_env: String,
    pub topic: String,
}

impl FeedbackConfig {
    /// The bearer token (from `token`, or the variable `token_env` names),
    /// or None: POST /feedback is off.
    pub fn bearer(&self) -> Option<String> {
        value_or_env(&self.token, &self.token_env)
    }

    /// The input topic verdicts are written to.
    pub fn topic<'a>(&'a self, kafka: &'a KafkaConfig) -> &'a str {
        if self.topic.is_empty() {
            kafka.topics.first().map_or("", |t| t.as_str())
        } else {
            &self.topic
        }
    }
}

/// `[postgres]`: alert history (`sink::postgres`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    pub url: String,
    pub url_env: String,
    pub batch: usize,
}

impl PostgresConfig {
    /// The connection string, from `url` or the variable `url_env` names.
    pub fn connection(&self) -> Option<String> {
        value_or_env(&self.url, &self.url_env)
    }
}

/// A secret given as a value, or by the name of the environment variable
/// holding it; None when neither gives a non-empty one.
fn value_or_env(value: &str, env: &str) -> Option<String> {
    if !value.is_empty() {
        return Some(value.to_string());
    }
    if env.is_empty() {
        return None;
    }
    std::env::var(env).ok().filter(|v| !v.is_empty())
}

/// `[suppressions]`: the suppressions file (`crate::suppress`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionsConfig {
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub ndjson: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    pub shards: usize,
    pub partitions: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({} problem", self.problems.len())?;
        if self.problems.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str("):")?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::load(None, std::iter::empty::<(String, String)>())
            .expect("the embedded default configuration is valid")
    }
}

impl Config {
    /// Loads defaults, then `file` (if any), then the `KAWAL__` variables
    /// among `env`. Pass `std::env::vars()` for the process environment.
    pub fn load<I>(file: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let schema: Table = DEFAULT_TOML.parse().expect("embedded default.toml parses");
        let mut merged = schema.clone();
        let mut problems = Vec::new();
        // [[webhooks]] is a list of tables, each merged over the prototype
        // [delivery.webhook] once the rest is merged.
        let mut hooks: Option<(String, Value)> = None;

        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
                Ok(text) => match text.parse::<Table>() {
                    Err(e) => {
                        problems.push(format!("{}: {}", path.display(), e.to_string().trim()))
                    }
                    Ok(mut table) => {
                        let origin = path.display().to_string();
                        if let Some(h) = table.remove("webhooks") {
                            hooks = Some((origin.clone(), h));
                        }
                        merge(
                            &schema,
                            &mut merged,
                            table,
                            &mut Vec::new(),
                            &origin,
                            &mut problems,
                        )
                    }
                },
            }
        }

        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        for (name, raw) in vars {
            let path: Vec<String> = name[ENV_PREFIX.len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect();
            if path.iter().any(|s| s.is_empty()) {
                problems.push(format!("{name}: malformed variable name"));
                continue;
            }
            let value = parse_env_value(&schema, &path, &raw);
            // Build a nested table for the one key and merge it like a file.
            let mut table = Table::new();
            let (last, parents) = path.split_last().expect("non-empty path");
            let mut cursor = &mut table;
            for p in parents {
                cursor = cursor
                    .entry(p.clone())
                    .or_insert_with(|| Value::Table(Table::new()))
                    .as_table_mut()
                    .expect("fresh table");
            }
            cursor.insert(last.clone(), value);
            merge(
                &schema,
                &mut merged,
                table,
                &mut Vec::new(),
                &name,
                &mut problems,
            );
        }

        if let Some((origin, h)) = hooks {
            let list = merge_webhooks(&schema, &merged, h, &origin, &mut problems);
            merged.insert("webhooks".into(), Value::Array(list));
        }

        // Bad keys and values were never merged, so the merged table is
        // well-typed: deserialise and check semantics even when there were
        // problems above, so that every problem is reported in one go.
        match Value::Table(merged).try_into::<Config>() {
            Ok(c) => {
                c.validate(&mut problems);
                if problems.is_empty() {
                    Ok(c)
                } else {
                    Err(ConfigError { problems })
                }
            }
            Err(e) => {
                problems.push(e.to_string().trim().to_string());
                Err(ConfigError { problems })
            }
        }
    }

    /// `[delivery]` and each `[[webhooks]]`.
    fn validate_delivery(&self, problems: &mut Vec<String>) {
        let d = &self.delivery;
        if !["batch", "never"].contains(&d.fsync.as_str()) {
            problems.push(format!(
                "delivery.fsync: {:?} is not \"batch\" or \"never\"",
                d.fsync
            ));
        }
        if d.retry_schedule.is_empty() {
            problems.push("delivery.retry_schedule: give at least one attempt (\"0s\")".into());
        }
        for v in &d.retry_schedule {
            if parse_duration(v).is_none() {
                problems.push(format!(
                    "delivery.retry_schedule: {v:?} is not a duration (like \"0s\", \"5m\", \"2h\")"
                ));
            }
        }
        if !(1..=1024).contains(&d.concurrency) {
            problems.push("delivery.concurrency: must be within 1..1024".into());
        }
        if d.segment_bytes < 4096 || d.max_bytes < d.segment_bytes {
            problems.push(
                "delivery.segment_bytes must be at least 4096 and delivery.max_bytes at least segment_bytes".into(),
            );
        }
        if !self.webhooks.is_empty() && d.outbox_dir.is_empty() {
            problems.push("delivery.outbox_dir: webhooks need an outbox directory".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let at = format!("webhooks[{i}]");
            if w.name.is_empty()
                || w.name.len() > 64
                || !w
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "{at}.name: {:?} should be 1 to 64 of A-Z a-z 0-9 - _ (it names a folder and a metric label)",
                    w.name
                ));
            } else if !names.insert(w.name.as_str()) {
                problems.push(format!("{at}.name: {:?} is used twice", w.name));
            }
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                problems.push(format!("{at}.url: {:?} is not an http(s) URL", w.url));
            }
            let format = crate::sink::webhook::Format::parse(&w.format);
            if format.is_none() {
                let known: Vec<&str> = crate::sink::webhook::Format::ALL
                    .iter()
                    .map(|(n, _)| *n)
                    .collect();
                problems.push(format!(
                    "{at}.format: {:?} is not one of {}",
                    w.format,
                    known.join(", ")
                ));
            }
            if crate::detect::Severity::parse(&w.min_severity).is_none() {
                problems.push(format!(
                    "{at}.min_severity: {:?} is not low, medium, high or critical",
                    w.min_severity
                ));
            }
            if !w.secret.is_empty() && !w.secret_env.is_empty() {
                problems.push(format!("{at}: give secret or secret_env, not both"));
            }
            if let Err(e) = crate::sink::webhook::Signer::parse(&w.secret) {
                problems.push(format!("{at}.secret: {e}"));
            }
            if format == Some(crate::sink::webhook::Format::PagerDuty)
                && w.routing_key.is_empty()
                && w.routing_key_env.is_empty()
            {
                problems.push(format!(
                    "{at}: format \"pagerduty\" needs routing_key or routing_key_env"
                ));
            }
            if !(w.rate_per_second.is_finite() && w.rate_per_second >= 0.0) {
                problems.push(format!("{at}.rate_per_second: must be 0 or more"));
            }
        }
    }

    /// `[kafka.adapt]`: vendor topics are read by the relay only, and
    /// its events go to a topic the workers read.
    fn validate_adapt(&self, problems: &mut Vec<String>) {
        let k = &self.kafka;
        let inputs = k.adapt.inputs();
        let mut seen = std::collections::BTreeSet::new();
        for (t, f) in &inputs {
            if t.is_empty() {
                problems.push(format!("kafka.adapt.{f}: an empty topic name"));
            } else if k.topics.contains(t) {
                problems.push(format!(
                    "kafka.adapt.{f}: {t:?} is also in kafka.topics; a vendor topic is read by the relay, which writes native events to kafka.topics"
                ));
            } else if !seen.insert(t.as_str()) {
                problems.push(format!("kafka.adapt.{f}: {t:?} is listed twice"));
            }
        }
        let to = k.adapt.destination(k);
        if !inputs.is_empty() && !k.topics.iter().any(|t| t == to) {
            problems.push(format!(
                "kafka.adapt.to: {to:?} is not one of kafka.topics, so no worker would read the relayed events"
            ));
        }
    }

    /// Semantic checks that types alone cannot express.
    fn validate(&self, problems: &mut Vec<String>) {
        self.validate_adapt(problems);
        let mut dur = |key: &str, v: &str| match parse_duration(v) {
            Some(ms) if ms > 0 => {}
            _ => problems.push(format!(
                "{key}: {v:?} is not a positive duration (like \"90s\", \"15m\", \"48h\", \"7d\")"
            )),
        };
        dur("detect.short_window", &self.detect.short_window);
        dur("detect.long_window", &self.detect.long_window);
        dur("posting.burst_window", &self.posting.burst_window);
        dur("detect.evidence_half_life", &self.detect.evidence_half_life);
        dur("detect.vouch_window", &self.detect.vouch_window);
        dur("detect.onboarding_window", &self.detect.onboarding_window);
        dur("detect.repage_after", &self.detect.repage_after);
        dur("kafka.batch_linger", &self.kafka.batch_linger);
        dur("kafka.commit_interval", &self.kafka.commit_interval);
        dur("kafka.drain_timeout", &self.kafka.drain_timeout);
        dur("time.future_tolerance", &self.time.future_tolerance);
        dur("state.idle_ttl", &self.state.idle_ttl);
        dur("state.snapshot_interval", &self.state.snapshot_interval);
        dur("state.restore_timeout", &self.state.restore_timeout);
        dur(
            "time.replay_future_tolerance",
            &self.time.replay_future_tolerance,
        );
        for (key, v) in [
            ("delivery.attempt_timeout", &self.delivery.attempt_timeout),
            ("delivery.replay_wait", &self.delivery.replay_wait),
            ("delivery.resend_interval", &self.delivery.resend_interval),
            ("delivery.ends_after", &self.delivery.ends_after),
            ("delivery.resolve_after", &self.delivery.resolve_after),
        ] {
            dur(key, v);
        }
        self.validate_delivery(problems);
        if !["native", "cloudevents"].contains(&self.kafka.alerts_format.as_str()) {
            problems.push(format!(
                "kafka.alerts_format: {:?} is not \"native\" or \"cloudevents\"",
                self.kafka.alerts_format
            ));
        }
        if !["committed", "earliest"].contains(&self.state.cold_start.as_str()) {
            problems.push(format!(
                "state.cold_start: {:?} is not \"committed\" or \"earliest\"",
                self.state.cold_start
            ));
        }
        if parse_duration(&self.time.allowed_lateness).is_none() {
            problems.push(format!(
                "time.allowed_lateness: {:?} is not a duration (like \"0s\", \"5m\")",
                self.time.allowed_lateness
            ));
        }
        if problems.is_empty() && self.detect.short_window_ms() > self.detect.long_window_ms() {
            problems.push("detect.short_window is longer than detect.long_window".into());
        }
        let f = &self.familiar;
        for (key, v) in [
            ("network_uses", f.network_uses),
            ("ip_range_uses", f.ip_range_uses),
            ("device_uses", f.device_uses),
            ("country_uses", f.country_uses),
            ("established_actions", f.established_actions),
            ("admin_actions", f.admin_actions),
        ] {
            if v == 0 {
                problems.push(format!(
                    "familiar.{key}: 0 would make a value never seen familiar (1 or more)"
                ));
            }
        }
        if !(f.place_radius_km > 0.0 && f.place_radius_km.is_finite()) {
            problems.push(format!(
                "familiar.place_radius_km: {} is not a positive distance",
                f.place_radius_km
            ));
        }
        let s = &self.severity;
        let names = ["low", "medium", "high", "critical"];
        for (key, v, none) in [
            ("access_only_min", &s.access_only_min, false),
            ("action_only_min", &s.action_only_min, false),
            ("posting_habits_max", &s.posting_habits_max, true),
            ("hour_and_client_max", &s.hour_and_client_max, true),
        ] {
            if !(names.contains(&v.as_str()) || none && v == "none") {
                problems.push(format!(
                    "severity.{key}: {v:?} is not one of {}\"low\", \"medium\", \"high\", \"critical\"",
                    if none { "\"none\", " } else { "" }
                ));
            }
        }
        if !(s.low > 0.0 && s.low < s.medium && s.medium < s.high && s.high < s.critical) {
            problems.push(format!(
                "severity: cut-offs must rise strictly from a positive low (low {} < medium {} < high {} < critical {})",
                s.low, s.medium, s.high, s.critical
            ));
        }
        let w = &self.weights;
        for (name, p) in [
            ("attacker_new_country", w.attacker_new_country),
            ("attacker_new_network", w.attacker_new_network),
            ("attacker_new_ip_range", w.attacker_new_ip_range),
            ("attacker_new_device", w.attacker_new_device),
            ("attacker_new_user_agent", w.attacker_new_user_agent),
            ("attacker_new_actor", w.attacker_new_actor),
            ("attacker_hosting", w.attacker_hosting),
            ("attacker_known_device", w.attacker_known_device),
        ] {
            if !(p > 0.0 && p <= 1.0) {
                problems.push(format!(
                    "weights.{name}: {p} is not a probability in (0, 1]"
                ));
            }
        }
        for (name, v) in [
            ("learning.weight", self.learning.weight),
            ("detect.long_window_weight", self.detect.long_window_weight),
            ("detect.vouched_weight", self.detect.vouched_weight),
            ("weights.familiar_change", self.weights.familiar_change),
            (
                "weights.session_residential",
                self.weights.session_residential,
            ),
            (
                "weights.correlated_novelty",
                self.weights.correlated_novelty,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("{name}: {v} is not within 0..1"));
            }
        }
        if self.replay.partitions > 10_000 {
            problems.push(format!(
                "replay.partitions: {} is more than 10000",
                self.replay.partitions
            ));
        }
        if self.replay.shards == 0 || self.replay.shards > 256 {
            problems.push(format!(
                "replay.shards: {} is not within 1..256",
                self.replay.shards
            ));
        }
        let k = &self.kafka;
        if k.workers == 0 || k.workers > 64 {
            problems.push(format!("kafka.workers: {} is not within 1..64", k.workers));
        }
        if k.batch_max == 0 {
            problems.push("kafka.batch_max: must be at least 1".into());
        }
        if k.topics.is_empty() || k.topics.iter().any(|t| t.is_empty()) {
            problems.push("kafka.topics: name at least one topic, none empty".into());
        }
        let f = &self.feedback;
        if !f.topic.is_empty() && !k.topics.contains(&f.topic) {
            problems.push(format!(
                "feedback.topic: {:?} is not one of kafka.topics {:?} (verdicts must meet the account's events in one worker)",
                f.topic, k.topics
            ));
        }
        if !f.token.is_empty() && !f.token_env.is_empty() {
            problems.push("feedback: give token or token_env, not both".into());
        }
        let pg = &self.postgres;
        if !pg.url.is_empty() && !pg.url_env.is_empty() {
            problems.push("postgres: give url or url_env, not both".into());
        }
        if !pg.url.is_empty() && pg.url.parse::<postgres::Config>().is_err() {
            problems.push("postgres.url: not a libpq connection string or postgres:// URL".into());
        }
        if pg.batch == 0 || pg.batch > 100_000 {
            problems.push(format!(
                "postgres.batch: {} is not within 1..100000",
                pg.batch
            ));
        }
        if !f.token.is_empty() && f.token.len() < 16 {
            problems.push("feedback.token: use at least 16 characters".into());
        }
        for (table, props) in [
            ("common", &k.common),
            ("consumer", &k.consumer),
            ("producer", &k.producer),
        ] {
            for name in props.keys() {
                if MANAGED_PROPERTIES.contains(&name.as_str()) {
                    problems.push(format!(
                        "kafka.{table}.{name}: kawal sets this itself (at-least-once delivery depends on it)"
                    ));
                }
            }
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(format!(
                "metrics.listen: {:?} is not an address like \"127.0.0.1:9898\" (or \"\" for none)",
                self.metrics.listen
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            problems.push(format!(
                "log.format: {:?} is not \"text\" or \"json\"",
                self.log.format
            ));
        }
        if self.posting.burst_min_posts < 2 {
            problems.push("posting.burst_min_posts: a burst needs at least 2 posts".into());
        }
        if !(1..=u32::MAX as usize / 2).contains(&self.state.max_accounts) {
            problems.push(format!(
                "state.max_accounts: {} is not within 1..{}",
                self.state.max_accounts,
                u32::MAX / 2
            ));
        }
        if self.detect.alert_max_bytes < 4096 {
            problems
                .push("detect.alert_max_bytes: at least 4096 (an alert with its evidence)".into());
        }
        if let Some(limit) = self
            .kafka
            .producer
            .get("message.max.bytes")
            .or_else(|| self.kafka.common.get("message.max.bytes"))
            .and_then(|v| v.parse::<usize>().ok())
            && self.detect.alert_max_bytes + 4096 > limit
        {
            problems.push(format!(
                "detect.alert_max_bytes: {} does not fit the producer's message.max.bytes {limit} with 4096 bytes for key and headers",
                self.detect.alert_max_bytes
            ));
        }
        if self.detect.max_evidence < 2 {
            problems.push("detect.max_evidence: keep at least 2 events".into());
        }
    }
}

/// An environment value for the key at `path`. A key whose default is a
/// string, and every librdkafka property (the free-form tables), takes
/// the value verbatim: a secret like `1.50` or `true` must not become a
/// number or a boolean on its way through. Other keys read it as TOML
/// (`8`, `true`, `["a","b"]`), falling back to a string (so the type check
/// reports it).
fn parse_env_value(schema: &Table, path: &[String], raw: &str) -> Value {
    let mut at = Some(schema);
    let mut expected = None;
    for (i, p) in path.iter().enumerate() {
        match at.and_then(|t| t.get(p)) {
            Some(Value::Table(t)) if t.is_empty() && i + 1 < path.len() => {
                return Value::String(raw.to_string());
            }
            Some(Value::Table(t)) => at = Some(t),
            Some(v) => {
                expected = Some(v);
                at = None;
            }
            None => at = None,
        }
    }
    if let Some(Value::String(_)) = expected {
        return Value::String(raw.to_string());
    }
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Each `[[webhooks]]` table over `[delivery.webhook]` as merged so far
/// (so a file's `[delivery.webhook]` sets defaults for all of them).
fn merge_webhooks(
    schema: &Table,
    merged: &Table,
    hooks: Value,
    origin: &str,
    problems: &mut Vec<String>,
) -> Vec<Value> {
    let proto_schema = schema["delivery"]["webhook"]
        .as_table()
        .expect("default.toml has [delivery.webhook]");
    let proto = merged["delivery"]["webhook"]
        .as_table()
        .expect("merged mirrors schema");
    let Value::Array(items) = hooks else {
        problems.push(format!(
            "{origin}: `webhooks` should be [[webhooks]] tables, not {}",
            type_name(&hooks)
        ));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Table(t) = item else {
            problems.push(format!("{origin}: `webhooks[{i}]` should be a table"));
            continue;
        };
        let mut one = proto.clone();
        let mut path = vec![format!("webhooks[{i}]")];
        merge(proto_schema, &mut one, t, &mut path, origin, problems);
        out.push(Value::Table(one));
    }
    out
}

/// Merges `layer` into `merged`, checking each key against `schema`.
fn merge(
    schema: &Table,
    merged: &mut Table,
    layer: Table,
    path: &mut Vec<String>,
    origin: &str,
    problems: &mut Vec<String>,
) {
    for (key, value) in layer {
        path.push(key.clone());
        let dotted = path.join(".");
        match (schema.get(&key), value) {
            (None, _) => {
                let known: Vec<&str> = schema.keys().map(|k| k.as_str()).collect();
                problems.push(format!(
                    "{origin}: unknown key `{dotted}` (known here: {})",
                    known.join(", ")
                ));
            }
            (Some(Value::Table(sub_schema)), Value::Table(sub_layer)) if sub_schema.is_empty() => {
                let sub_merged = merged
                    .get_mut(&key)
                    .and_then(Value::as_table_mut)
                    .expect("merged mirrors schema");
                for (name, v) in sub_layer {
                    // Shells cannot export names with dots, so variables
                    // spell librdkafka's dots as underscores.
                    let name = if origin.starts_with(ENV_PREFIX) {
                        name.replace('_', ".")
                    } else {
                        name
                    };
                    let text = match v {
                        Value::String(s) => s,
                        Value::Integer(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Boolean(b) => b.to_string(),
                        other => {
                            problems.push(format!(
                                "{origin}: `{dotted}.{name}` should be a string, number or boolean, not {}",
                                type_name(&other)
                            ));
                            continue;
                        }
                    };
                    sub_merged.insert(name, Value::String(text));
                }
            }
            (Some(Value::Table(sub_schema)), Value::Table(sub_layer)) => {
                let sub_merged = merged
                    .get_mut(&key)
                    .and_then(Value::as_table_mut)
                    .expect("merged mirrors schema");
                merge(sub_schema, sub_merged, sub_layer, path, origin, problems);
            }
            (Some(expected), value) => match coerce(
                &empty_array_prototype(&dotted).unwrap_or_else(|| expected.clone()),
                value,
            ) {
                Ok(v) => {
                    merged.insert(key, v);
                }
                Err(got) => problems.push(format!(
                    "{origin}: `{dotted}` should be {}, not {got}",
                    type_name(expected)
                )),
            },
        }
        path.pop();
    }
}

/// Arrays whose default is empty have no element to check items against:
/// their element type, by key.
fn empty_array_prototype(dotted: &str) -> Option<Value> {
    let proto = match dotted {
        "networks.hosting_asns" | "networks.corporate_asns" => Value::Integer(0),
        "apps.trusted_link_domains"
        | "networks.platform_tokens"
        | "kafka.adapt.okta"
        | "kafka.adapt.entra"
        | "kafka.adapt.google_workspace"
        | "kafka.adapt.ocsf" => Value::String(String::new()),
        _ => return None,
    };
    Some(Value::Array(vec![proto]))
}

/// Accepts `value` where `expected`'s type belongs; integers stand for
/// floats, and array elements are checked against the default's elements.
fn coerce(expected: &Value, value: Value) -> Result<Value, &'static str> {
    match (expected, value) {
        (Value::Float(_), Value::Integer(i)) => Ok(Value::Float(i as f64)),
        (Value::Array(default), Value::Array(items)) => {
            if let Some(proto) = default.first() {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(coerce(proto, item).map_err(|_| "an array of other types")?);
                }
                Ok(Value::Array(out))
            } else {
                Ok(Value::Array(items))
            }
        }
        (Value::Table(_), v) | (_, v @ Value::Table(_)) => Err(type_name(&v)),
        (e, v) if std::mem::discriminant(e) == std::mem::discriminant(&v) => Ok(v),
        (_, v) => Err(type_name(&v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let c = Config::default();
        assert_eq!(c.detect.short_window_ms(), 60 * crate::time::MINUTE);
        assert!(c.severity.high > c.severity.medium);
    }

    #[test]
    fn file_then_env_override() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[severity]\nhigh = 9\ncritical = 12.5\n[replay]\nshards = 3"
        )
        .unwrap();
        let c = Config::load(
            Some(f.path()),
            env(&[
                ("KAWAL__SEVERITY__CRITICAL", "13"),
                ("HOME", "/root"),
                ("KAWAL__LOG__FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(c.severity.high, 9.0);
        assert_eq!(c.severity.critical, 13.0);
        assert_eq!(c.replay.shards, 3);
        assert_eq!(c.log.format, "json");
    }

    #[test]
    fn webhooks_take_their_defaults_from_delivery_webhook_and_report_every_problem() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            r#"
[delivery.webhook]
min_severity = "high"
[[webhooks]]
name = "soc"
url = "https://soc.example/hook"
[[webhooks]]
name = "pd"
url = "https://events.pagerduty.com/v2/enqueue"
format = "pagerduty"
routing_key = "k"
min_severity = "critical"
"#
        )
        .unwrap();
        let c = Config::load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.webhooks.len(), 2);
        assert_eq!(
            c.webhooks[0].min_severity, "high",
            "from [delivery.webhook]"
        );
        assert_eq!(c.webhooks[0].format, "native", "from default.toml");
        assert_eq!(c.webhooks[1].min_severity, "critical");

        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            r#"
[[webhooks]]
name = "a b"
url = "ftp://x"
colour = "red"
format = "fax"
secret = "whsec_!!"
[[webhooks]]
name = "pd"
url = "https://x"
format = "pagerduty"
[[webhooks]]
name = "pd"
url = "https://y"
"#
        )
        .unwrap();
        let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
        let all = e.to_string();
        for want in [
            "unknown key `webhooks[0].colour`",
            "webhooks[0].name",
            "webhooks[0].url",
            "webhooks[0].format",
            "webhooks[0].secret",
            "needs routing_key",
            "used twice",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    }

    #[test]
    fn env_values_of_string_keys_are_taken_verbatim() {
        let cfg = Config::load(
            None,
            env(&[
                ("KAWAL__KAFKA__COMMON__SASL_PASSWORD", "1.50"),
                ("KAWAL__KAFKA__PRODUCER__LINGER_MS", "007"),
                ("KAWAL__KAFKA__GROUP_ID", "true"),
                ("KAWAL__OUTPUT__NDJSON", "[not, a, list]"),
                ("KAWAL__SEVERITY__HIGH", "8"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.kafka.common["sasl.password"], "1.50");
        assert_eq!(cfg.kafka.producer["linger.ms"], "007");
        assert_eq!(cfg.kafka.group_id, "true");
        assert_eq!(cfg.output.ndjson, "[not, a, list]");
        assert_eq!(cfg.severity.high, 8.0);
    }

    #[test]
    fn env_lists_parse_as_toml() {
        let c = Config::load(
            None,
            env(&[("KAWAL__NETWORKS__CORPORATE_ASNS", "[64500, 64501]")]),
        )
        .unwrap();
        assert_eq!(c.networks.corporate_asns, vec![64500, 64501]);
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[severity]\nhihg = 9\n[detect]\nshort_window = 60\n[nonsense]\nx = 1\n[networks]\nhosting_asns = [\"a\"]"
        )
        .unwrap();
        let err = Config::load(
            Some(f.path()),
            env(&[("KAWAL__LEARNING__MIN_DAYS", "soon")]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 5, "{text}");
        assert!(text.contains("unknown key `severity.hihg`"), "{text}");
        assert!(
            text.contains("`detect.short_window` should be a string"),
            "{text}"
        );
        assert!(text.contains("unknown key `nonsense`"), "{text}");
        assert!(
            text.contains("`networks.hosting_asns` should be an array"),
            "{text}"
        );
        assert!(text.contains("KAWAL__LEARNING__MIN_DAYS"), "{text}");
    }

    #[test]
    fn semantic_problems_are_collected() {
        let err = Config::load(
            None,
            env(&[
                ("KAWAL__DETECT__SHORT_WINDOW", "\"soon\""),
                ("KAWAL__SEVERITY__LOW", "9"),
                ("KAWAL__WEIGHTS__ATTACKER_HOSTING", "1.5"),
                ("KAWAL__REPLAY__SHARDS", "0"),
                ("KAWAL__SEVERITY__ACCESS_ONLY_MIN", "none"),
                ("KAWAL__SEVERITY__POSTING_HABITS_MAX", "never"),
                ("KAWAL__FAMILIAR__DEVICE_USES", "0"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.problems.len(), 7, "{err}");
        assert!(err.to_string().contains("familiar.device_uses: 0"), "{err}");
        // A misspelt severity is an error, not silently "high".
        let text = err.to_string();
        assert!(
            text.contains("severity.access_only_min: \"none\""),
            "{text}"
        );
        assert!(
            text.contains("severity.posting_habits_max: \"never\""),
            "{text}"
        );
    }

    #[test]
    fn librdkafka_properties_pass_through() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[kafka.common]\n\"security.protocol\" = \"SASL_SSL\"\n\"fetch.wait.max.ms\" = 50\n[kafka.consumer]\n\"check.crcs\" = true"
        )
        .unwrap();
        let c = Config::load(
            Some(f.path()),
            env(&[("KAWAL__KAFKA__COMMON__SASL_PASSWORD", "hunter2")]),
        )
        .unwrap();
        assert_eq!(c.kafka.common["security.protocol"], "SASL_SSL");
        assert_eq!(c.kafka.common["fetch.wait.max.ms"], "50");
        assert_eq!(c.kafka.common["sasl.password"], "hunter2");
        assert_eq!(c.kafka.consumer["check.crcs"], "true");
        assert!(c.kafka.producer.is_empty());
    }

    #[test]
    fn managed_kafka_properties_are_refused() {
        let err = Config::load(
            None,
            env(&[
                ("KAWAL__KAFKA__CONSUMER__ENABLE_AUTO_OFFSET_STORE", "true"),
                ("KAWAL__KAFKA__WORKERS", "0"),
                // A property from the environment is a string, verbatim.
                ("KAWAL__KAFKA__COMMON__X", "[1]"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 2, "{text}");
        assert!(
            text.contains("kafka.consumer.enable.auto.offset.store"),
            "{text}"
        );
        assert!(text.contains("kafka.workers"), "{text}");
        // In a file, an array is no property value.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "[kafka.common]\nx = [1]\n").unwrap();
        let text = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            text.contains("should be a string, number or boolean"),
            "{text}"
        );
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/kawal.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("cannot read"));
    }
}
