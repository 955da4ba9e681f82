//! `kawal produce`: an NDJSON events file into a topic, keyed by account.
//!
//! For users who replay history into Kafka, and for the demo, tests and
//! benchmarks. Lines are sent as they are (also invalid ones: the
//! pipeline's dead-letter handling is then exercised as it would be in
//! production); the key is the event's account, found by the same byte
//! scan the replay uses, so an account always lands on one partition.
//! Blank lines are skipped. An optional rate paces sending in real time.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::source::ndjson::{Chunk, ChunkReader, line_account};

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("reading input: {0}")]
    Read(#[from] std::io::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{failed} of {sent} messages were not delivered")]
    Undelivered { failed: u64, sent: u64 },
}

/// What was produced.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    pub messages: u64,
    /// Lines without a readable account (sent without a key).
    pub unkeyed: u64,
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Default)]
struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Sends every non-blank line of `input` to `topic`. `rate` is messages
/// per second (0: as fast as the producer takes them). `progress` gets the
/// bytes read so far. Returns when every message is delivered.
pub fn produce<R: Read>(
    input: R,
    config: &ClientConfig,
    topic: &str,
    rate: f64,
    progress: &mut dyn FnMut(u64),
) -> Result<Produced, ProduceError> {
    let started = Instant::now();
    let producer: ThreadedProducer<Counting> = config.create_with_context(Counting::default())?;
    let mut reader = ChunkReader::new(input);
    let mut chunk = Chunk::default();
    let mut out = Produced::default();
    while reader.next_chunk(&mut chunk)? {
        for (_, line) in chunk.lines() {
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let key = line_account(line);
            if key.is_none() {
                out.unkeyed += 1;
            }
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(line);
            if let Some(k) = key.as_deref() {
                record = record.key(k);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
            out.messages += 1;
            if rate > 0.0 && out.messages.is_multiple_of(64) {
                let due = Duration::from_secs_f64(out.messages as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        progress(reader.bytes_read);
    }
    producer.flush(Duration::from_secs(60))?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(ProduceError::Undelivered {
            failed,
            sent: out.messages,
        });
    }
    out.bytes = reader.bytes_read;
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
