//! Alerts to a Kafka topic, and dead letters to another.
//!
//! One idempotent producer per pipeline worker: the worker polls it, so
//! delivery callbacks run on the worker's own thread between batches and
//! the producer needs no sharing. Each queued message carries a clone of
//! its batch's [`Ack`] as the delivery opaque; the callback releases it.
//! librdkafka retries failed sends itself until `message.timeout.ms`, so a
//! failed delivery report is final: the batch's offsets are then never
//! stored and the worker stops (see the source), which re-reads the batch
//! after a restart instead of losing its alerts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{Ack, Sink, SinkError};
use crate::detect::Alert;
use crate::kafka::Health;

/// Delivery callbacks: release the batch's hold, count the outcome.
pub struct DeliveryContext {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    /// librdkafka's send retries, from its statistics.
    pub retries: AtomicU64,
    health: Arc<Health>,
}

impl ClientContext for DeliveryContext {
    fn stats(&self, stats: rdkafka::Statistics) {
        let total: u64 = stats.brokers.values().map(|b| b.txretries).sum();
        self.retries.store(total, Ordering::Relaxed);
        self.health.from_stats(&stats);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.health.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(&error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Ack>;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Box<Ack>) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                ack.release(true);
            }
            Err((e, msg)) => {
                let n = self.failed.fetch_add(1, Ordering::Relaxed);
                // Failures come in storms (a broker down); say the first few.
                if n < 5 {
                    use rdkafka::Message;
                    tracing::error!(topic = msg.topic(), error = %e, "delivery failed after retries");
                }
                ack.release(false);
            }
        }
    }
}

/// Where a dead letter came from and why.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    pub kind: &'static str,
    pub error: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

pub struct KafkaSink {
    producer: BaseProducer<DeliveryContext>,
    alerts_topic: Option<String>,
    dead_letter_topic: Option<String>,
    buf: Vec<u8>,
    /// Alerts as CloudEvents in binary mode (the Kafka protocol binding:
    /// `ce_*` headers, the alert as the value).
    cloudevents: bool,
    drain_timeout: Duration,
    /// The producer's `message.max.bytes`: a larger message is a fatal
    /// producer error, so dead letters are cut to fit under it.
    max_message_bytes: usize,
}

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Room kept for record overhead (lengths, timestamps, batch header).
const RECORD_OVERHEAD: usize = 1024;
/// Longest key and error text a dead letter carries.
const MAX_DEAD_LETTER_KEY: usize = 1024;
const MAX_ERROR_TEXT: usize = 1024;

/// What a dead letter keeps of the original message when the whole would
/// exceed the producer's limit: the original headers (unless they alone
/// take more than a quarter of it), the key up to 1 KiB, and as much of the
/// payload as fits; `kawal.original.*` headers then give the original
/// payload's length and SHA-256, so the message can be found and checked
/// at its source.
#[derive(Debug, PartialEq)]
struct Fit {
    key_len: usize,
    payload_len: usize,
    keep_headers: bool,
    truncated: bool,
}

fn fit_dead_letter(max: usize, key: usize, payload: usize, headers: usize, ours: usize) -> Fit {
    let whole = key + payload + headers + ours + RECORD_OVERHEAD;
    if whole <= max {
        return Fit {
            key_len: key,
            payload_len: payload,
            keep_headers: true,
            truncated: false,
        };
    }
    let keep_headers = headers <= max / 4;
    let key_len = key.min(MAX_DEAD_LETTER_KEY);
    // Our own headers grow by the length, digest and marker (< 160 bytes).
    let fixed = key_len + if keep_headers { headers } else { 0 } + ours + 160 + RECORD_OVERHEAD;
    Fit {
        key_len,
        payload_len: payload.min(max.saturating_sub(fixed)),
        keep_headers,
        truncated: true,
    }
}

impl KafkaSink {
    /// A producer for `alerts_topic` and `dead_letter_topic` (empty names
    /// are none).
    pub fn new(
        config: &ClientConfig,
        alerts_topic: &str,
        dead_letter_topic: &str,
        drain_timeout: Duration,
        health: Arc<Health>,
    ) -> Result<KafkaSink, KafkaError> {
        let producer = config.create_with_context(DeliveryContext {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            health,
        })?;
        let topic = |t: &str| (!t.is_empty()).then(|| t.to_string());
        let max_message_bytes = max_message_bytes(config);
        Ok(KafkaSink {
            producer,
            alerts_topic: topic(alerts_topic),
            dead_letter_topic: topic(dead_letter_topic),
            buf: Vec::with_capacity(4096),
            cloudevents: false,
            drain_timeout,
            max_message_bytes,
        })
    }

    /// Alerts as CloudEvents 1.0 in binary mode (`[kafka] alerts_format =
    /// "cloudevents"`).
    pub fn with_cloudevents(mut self, on: bool) -> KafkaSink {
        self.cloudevents = on;
        self
    }

    pub fn context(&self) -> &DeliveryContext {
        self.producer.context()
    }

    /// Messages queued or in flight, not yet confirmed.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    pub fn has_dead_letter_topic(&self) -> bool {
        self.dead_letter_topic.is_some()
    }

    /// Queues `record`, waiting for room while librdkafka's queue is full
    /// (back-pressure on the worker instead of an error).
    fn enqueue(&self, mut record: BaseRecord<'_, [u8], [u8], Box<Ack>>) -> Result<(), SinkError> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, r)) => {
                    // The opaque comes back with the record: release its hold.
                    r.delivery_opaque.release(false);
                    return Err(SinkError::Queue {
                        sink: "kafka",
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Sends a message that could not be processed to the dead-letter
    /// topic: its original key, bytes and headers, plus `kawal.*` headers
    /// naming the error and where the message came from, cut to fit under
    /// `message.max.bytes` ([`dead_letter_record`]): a dead letter the
    /// producer refuses would stop the partition on the message it was
    /// meant to set aside.
    pub fn dead_letter(
        &mut self,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<&rdkafka::message::BorrowedHeaders>,
        why: DeadLetter<'_>,
        ack: &Ack,
    ) -> Result<(), SinkError> {
        let Some(topic) = self.dead_letter_topic.as_deref() else {
            return Ok(());
        };
        let null_payload = payload.is_none();
        let (key, payload) = (key.unwrap_or(&[]), payload.unwrap_or(&[]));
        let d = dead_letter_record(self.max_message_bytes, key, payload, headers, why);
        ack.hold();
        let mut record =
            BaseRecord::with_opaque_to(topic, Box::new(ack.clone())).headers(d.headers);
        if !key.is_empty() {
            record = record.key(&key[..d.key_len]);
        }
        if !null_payload {
            record = record.payload(&payload[..d.payload_len]);
        }
        self.enqueue(record)
    }
}

/// A dead letter ready to send: its headers (the original ones, when they
/// fit, then `kawal.*`), and how much of the original key and payload
/// fit under `message.max.bytes` (see [`Fit`]). Shared by the workers'
/// sink and the vendor-topic relay (`source::relay`).
pub struct DeadLetterRecord {
    pub headers: OwnedHeaders,
    pub key_len: usize,
    pub payload_len: usize,
}

/// Builds the dead letter of a message: `kawal.error.kind`, `kawal.error`,
/// `kawal.source.topic`, `.partition`, `.offset`, and when it had to be cut,
/// `kawal.original.length`, `.sha256` and `kawal.truncated`.
pub fn dead_letter_record(
    max_message_bytes: usize,
    key: &[u8],
    payload: &[u8],
    headers: Option<&rdkafka::message::BorrowedHeaders>,
    why: DeadLetter<'_>,
) -> DeadLetterRecord {
    let error = crate::detect::budget::capped(why.error, MAX_ERROR_TEXT);
    let partition = why.partition.to_string();
    let offset = why.offset.to_string();
    let ours = [
        ("kawal.error.kind", why.kind),
        ("kawal.error", &error),
        ("kawal.source.topic", why.topic),
        ("kawal.source.partition", &partition),
        ("kawal.source.offset", &offset),
    ];
    let header_bytes = |it: &mut dyn Iterator<Item = (usize, usize)>| -> usize {
        it.map(|(k, v)| k + v + 8).sum()
    };
    let orig_bytes = headers.map_or(0, |hs| {
        header_bytes(
            &mut hs
                .iter()
                .map(|o| (o.key.len(), o.value.map_or(0, <[u8]>::len))),
        )
    });
    let ours_bytes = header_bytes(&mut ours.iter().map(|(k, v)| (k.len(), v.len())));
    let fit = fit_dead_letter(
        max_message_bytes,
        key.len(),
        payload.len(),
        orig_bytes,
        ours_bytes,
    );
    let mut h = OwnedHeaders::new_with_capacity(8 + headers.map_or(0, |h| h.count()));
    if let Some(orig) = headers.filter(|_| fit.keep_headers) {
        for o in orig.iter() {
            h = h.insert(Header {
                key: o.key,
                value: o.value,
            });
        }
    }
    for (k, v) in ours {
        h = h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    if fit.truncated {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(payload);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let len = payload.len().to_string();
        let what = if fit.keep_headers {
            "payload"
        } else {
            "payload,headers"
        };
        for (k, v) in [
            ("kawal.original.length", len.as_str()),
            ("kawal.original.sha256", hex.as_str()),
            ("kawal.truncated", what),
        ] {
            h = h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
    }
    DeadLetterRecord {
        headers: h,
        key_len: fit.key_len,
        payload_len: fit.payload_len,
    }
}

/// The `message.max.bytes` a producer made from `config` enforces.
pub fn max_message_bytes(config: &ClientConfig) -> usize {
    config
        .get("message.max.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
}

/// CloudEvents' Kafka protocol binding, binary mode: the attributes as
/// `ce_` headers, `content-type` for `datacontenttype`, the alert (the
/// event's data) as the value. The same attributes as the webhook format
/// `cloudevents` (docs/DELIVERY.md).
fn cloudevent_headers(a: &Alert) -> OwnedHeaders {
    let h = |hs: OwnedHeaders, key: &str, value: &str| {
        hs.insert(Header {
            key,
            value: Some(value),
        })
    };
    let hs = OwnedHeaders::new_with_capacity(7);
    let hs = h(hs, "ce_specversion", "1.0");
    let hs = h(hs, "ce_id", &a.id);
    let hs = h(hs, "ce_source", "kawal");
    let hs = h(hs, "ce_type", "kawal.alert");
    let hs = h(hs, "ce_subject", &a.account);
    let hs = h(hs, "ce_time", &a.detected_at);
    h(hs, "content-type", "application/json")
}

impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn send(&mut self, alerts: &[Alert], ack: &Ack) -> Result<(), SinkError> {
        let Some(topic) = self.alerts_topic.as_deref() else {
            return Ok(());
        };
        for a in alerts {
            self.buf.clear();
            serde_json::to_writer(&mut self.buf, a).map_err(|source| SinkError::Encode {
                sink: "kafka",
                source,
            })?;
            ack.hold();
            let mut record = BaseRecord::with_opaque_to(topic, Box::new(ack.clone()))
                .key(a.account.as_bytes())
                .payload(&self.buf[..]);
            if self.cloudevents {
                record = record.headers(cloudevent_headers(a));
            }
            self.enqueue(record)?;
        }
        Ok(())
    }

    fn poll(&mut self) {
        self.producer.poll(Duration::ZERO);
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let started = Instant::now();
        self.producer
            .flush(self.drain_timeout)
            .map_err(|_| SinkError::Timeout {
                sink: "kafka",
                pending: self.producer.in_flight_count().max(0) as usize,
                waited_ms: started.elapsed().as_millis() as u64,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_that_fits_is_whole() {
        let f = fit_dead_letter(1_000_000, 10, 900_000, 100, 200);
        assert!(!f.truncated);
        assert_eq!((f.key_len, f.payload_len), (10, 900_000));
    }

    #[test]
    fn an_oversized_dead_letter_is_cut_under_the_limit() {
        // A 1 MiB event (the decoder's too_large) and a 300 KB key.
        let (max, key, payload, headers, ours) = (1_000_000, 300_000, 1 << 20, 2_000, 300);
        let f = fit_dead_letter(max, key, payload, headers, ours);
        assert!(f.truncated && f.keep_headers);
        assert_eq!(f.key_len, MAX_DEAD_LETTER_KEY);
        let total = f.key_len + f.payload_len + headers + ours + 160 + RECORD_OVERHEAD;
        assert!(total <= max, "{total}");
        assert!(f.payload_len > 990_000);
        // Headers that alone take a quarter of the limit are dropped.
        let f = fit_dead_letter(max, 10, 10, 1_200_000, ours);
        assert!(f.truncated && !f.keep_headers);
    }
}
