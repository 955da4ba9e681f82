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

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{Ack, Sink, SinkError};
use crate::detect::Alert;

/// Delivery callbacks: release the batch's hold, count the outcome.
#[derive(Default)]
pub struct DeliveryContext {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    /// librdkafka's send retries, from its statistics.
    pub retries: AtomicU64,
}

impl ClientContext for DeliveryContext {
    fn stats(&self, stats: rdkafka::Statistics) {
        let total: u64 = stats.brokers.values().map(|b| b.txretries).sum();
        self.retries.store(total, Ordering::Relaxed);
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
    drain_timeout: Duration,
}

impl KafkaSink {
    /// A producer for `alerts_topic` and `dead_letter_topic` (empty names
    /// are none).
    pub fn new(
        config: &ClientConfig,
        alerts_topic: &str,
        dead_letter_topic: &str,
        drain_timeout: Duration,
    ) -> Result<KafkaSink, KafkaError> {
        let producer = config.create_with_context(DeliveryContext::default())?;
        let topic = |t: &str| (!t.is_empty()).then(|| t.to_string());
        Ok(KafkaSink {
            producer,
            alerts_topic: topic(alerts_topic),
            dead_letter_topic: topic(dead_letter_topic),
            buf: Vec::with_capacity(4096),
            drain_timeout,
        })
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
    /// naming the error and where the message came from.
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
        let mut h = OwnedHeaders::new_with_capacity(5 + headers.map_or(0, |h| h.count()));
        if let Some(orig) = headers {
            for o in orig.iter() {
                h = h.insert(Header {
                    key: o.key,
                    value: o.value,
                });
            }
        }
        let partition = why.partition.to_string();
        let offset = why.offset.to_string();
        for (k, v) in [
            ("kawal.error.kind", why.kind),
            ("kawal.error", why.error),
            ("kawal.source.topic", why.topic),
            ("kawal.source.partition", &partition),
            ("kawal.source.offset", &offset),
        ] {
            h = h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        ack.hold();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(ack.clone())).headers(h);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = payload {
            record = record.payload(p);
        }
        self.enqueue(record)
    }
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
            let record = BaseRecord::with_opaque_to(topic, Box::new(ack.clone()))
                .key(a.account.as_bytes())
                .payload(&self.buf[..]);
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
