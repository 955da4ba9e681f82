//! The feedback intake: an analyst's verdict, as an authenticated POST on
//! the admin endpoint, becomes a `feedback` event in the account's input
//! stream (see `detect::feedback` for what the detector does with it).
//!
//! The intake writes to an input topic keyed by account rather than
//! touching a detector: the worker that owns the account may be in another
//! instance, and the event in the stream is what makes a verdict durable,
//! ordered with the account's events, covered by snapshots and replayed.
//! The answer (202) is sent once the broker has the event.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;

use crate::detect::feedback::Verdict;
use crate::time::{Millis, rfc3339};

/// Largest request body accepted.
pub const MAX_BODY: usize = 16 * 1024;
const MAX_FIELD: usize = 512;

/// A verdict as POSTed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub account: String,
    pub incident: String,
    pub verdict: String,
    #[serde(default)]
    pub analyst: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeedbackError {
    #[error("body: {0}")]
    Body(String),
    #[error("{0}: empty or longer than 512 bytes")]
    Field(&'static str),
    #[error("verdict: {0:?} is not true_positive, benign or false_positive")]
    Verdict(String),
    #[error("incident: {0:?} is not an incident id (inc- and 16 hex digits)")]
    Incident(String),
}

/// The `feedback` event for `body` received at `now` (wall clock: this is
/// an edge), and its key (the account).
pub fn event(body: &[u8], now: Millis) -> Result<(String, String), FeedbackError> {
    let r: Request =
        serde_json::from_slice(body).map_err(|e| FeedbackError::Body(e.to_string()))?;
    for (name, v) in [("account", &r.account), ("incident", &r.incident)] {
        if v.is_empty() || v.len() > MAX_FIELD {
            return Err(FeedbackError::Field(name));
        }
    }
    if r.analyst.len() > MAX_FIELD {
        return Err(FeedbackError::Field("analyst"));
    }
    let verdict = Verdict::parse(&r.verdict).ok_or(FeedbackError::Verdict(r.verdict.clone()))?;
    let hex = r.incident.strip_prefix("inc-").unwrap_or("");
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FeedbackError::Incident(r.incident));
    }
    // One id per verdict on an incident: a retried POST is the same event,
    // which the detector skips as a duplicate.
    let id = crate::hash::hash_str(&format!(
        "{}\0{}\0{}",
        r.account,
        r.incident,
        verdict.as_str()
    ));
    let analyst = if r.analyst.is_empty() {
        "analyst"
    } else {
        &r.analyst
    };
    let ev = serde_json::json!({
        "id": format!("fb-{id:016x}"),
        "time": rfc3339(now),
        "account": r.account,
        "type": "feedback",
        "actor": analyst,
        "change": {"action": verdict.as_str(), "target": r.incident},
    });
    Ok((r.account, ev.to_string()))
}

/// Compares a request's Authorization header with the bearer token in
/// time independent of where they differ.
pub fn authorized(header: Option<&str>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Turns POSTed verdicts into events on the input topic.
pub struct Intake {
    producer: Option<FutureProducer>,
    topic: String,
    token: Option<String>,
}

impl Intake {
    /// An intake writing to `topic` through `producer`; `token` None turns
    /// it off (every POST is refused).
    pub fn new(producer: Option<FutureProducer>, topic: &str, token: Option<String>) -> Intake {
        Intake {
            producer,
            topic: topic.to_string(),
            token,
        }
    }

    /// The intake of `kawal run`: off (403) without a token.
    pub fn from_config(cfg: &crate::config::Config) -> Result<Intake, rdkafka::error::KafkaError> {
        let token = cfg.feedback.bearer();
        if token.is_none() && !cfg.feedback.token_env.is_empty() {
            tracing::warn!(
                variable = %cfg.feedback.token_env,
                "feedback.token_env names an unset or empty variable: POST /feedback is off"
            );
        }
        let producer = match token {
            Some(_) => Some(
                crate::kafka::client_config(&cfg.kafka, crate::kafka::Role::Producer).create()?,
            ),
            None => None,
        };
        Ok(Intake::new(producer, cfg.feedback.topic(&cfg.kafka), token))
    }

    /// Handles one POST: the HTTP status and a one-line answer.
    pub async fn submit(&self, authorization: Option<&str>, body: &[u8]) -> (u16, String) {
        let Some(token) = &self.token else {
            return (
                403,
                "feedback is off: set feedback.token or feedback.token_env".into(),
            );
        };
        if !authorized(authorization, token) {
            return (
                401,
                "a valid Authorization: Bearer token is required".into(),
            );
        }
        let (key, ev) = match event(body, crate::time::wall_clock_ms()) {
            Ok(x) => x,
            Err(e) => return (400, e.to_string()),
        };
        let Some(producer) = &self.producer else {
            return (503, "no input topic to write the verdict to".into());
        };
        let record = FutureRecord::to(&self.topic).key(&key).payload(&ev);
        match producer.send(record, Duration::from_secs(10)).await {
            Ok(_) => {
                tracing::info!(topic = %self.topic, "feedback accepted");
                (202, ev)
            }
            Err((e, _)) => (503, format!("the verdict was not stored: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_becomes_a_feedback_event() {
        let body = br#"{"account":"x:kemkominfo","incident":"inc-5c1e9a0b7d3f2e11","verdict":"false_positive","analyst":"analyst:dewi"}"#;
        let (key, ev) = event(body, 0).unwrap();
        assert_eq!(key, "x:kemkominfo");
        let e = crate::decode::decode(ev.as_bytes()).unwrap();
        assert_eq!(e.kind, crate::decode::EventKind::Feedback);
        assert_eq!(e.change.action.as_deref(), Some("false_positive"));
        assert_eq!(e.change.target.as_deref(), Some("inc-5c1e9a0b7d3f2e11"));
        assert_eq!(e.actor.as_deref(), Some("analyst:dewi"));
        // The same verdict again is the same event id (a retried POST).
        let (_, again) = event(body, 5).unwrap();
        let id = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["id"].clone();
        assert_eq!(id(&ev), id(&again));
    }

    #[test]
    fn bad_verdicts_are_refused_with_the_reason() {
        let bad = |b: &str| event(b.as_bytes(), 0).unwrap_err();
        assert!(matches!(bad("{"), FeedbackError::Body(_)));
        assert!(matches!(
            bad(r#"{"account":"a","incident":"inc-5c1e9a0b7d3f2e11","verdict":"x","extra":1}"#),
            FeedbackError::Body(_)
        ));
        assert_eq!(
            bad(r#"{"account":"","incident":"inc-5c1e9a0b7d3f2e11","verdict":"benign"}"#),
            FeedbackError::Field("account")
        );
        assert_eq!(
            bad(r#"{"account":"a","incident":"inc-5c1e9a0b7d3f2e11","verdict":"maybe"}"#),
            FeedbackError::Verdict("maybe".into())
        );
        assert_eq!(
            bad(r#"{"account":"a","incident":"inc-zz","verdict":"benign"}"#),
            FeedbackError::Incident("inc-zz".into())
        );
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let t = "0123456789abcdef";
        assert!(authorized(Some("Bearer 0123456789abcdef"), t));
        assert!(!authorized(Some("Bearer 0123456789abcdeF"), t));
        assert!(!authorized(Some("Bearer 0123456789abcde"), t));
        assert!(!authorized(Some("Basic 0123456789abcdef"), t));
        assert!(!authorized(None, t));
    }
}
