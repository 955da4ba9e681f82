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

use crate::kafka::Health;
use crate::source::ndjson::{Chunk, ChunkReader, line_account};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("reading input: {0}")]
    Read(#[from] std::io::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{failed} of {sent} messages were not delivered{why}")]
    Undelivered { failed: u64, sent: u64, why: String },
    #[error(
        "{why}; gave up after {waited_s} s: {delivered} of {sent} messages delivered (raise --timeout to wait longer)"
    )]
    Unreachable {
        why: String,
        waited_s: u64,
        sent: u64,
        delivered: u64,
    },
}

/// How long `kawal produce` waits for unreachable brokers by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What was produced.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    pub messages: u64,
    /// Lines without a readable account (sent without a key).
    pub unkeyed: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// A producer context counting deliveries and failures (also the relay's,
/// `source::relay`).
pub(crate) struct Counting {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) health: Arc<Health>,
}

impl ClientContext for Counting {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.health.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(&error, reason);
    }

    /// librdkafka's statistics: a line at debug level (its default dumps
    /// 3 KB at info every 5 s).
    fn stats(&self, stats: rdkafka::Statistics) {
        self.health.from_stats(&stats);
        tracing::debug!(
            messages_queued = stats.msg_cnt,
            bytes_queued = stats.msg_size,
            transmitted = stats.txmsgs,
            "producer statistics"
        );
    }
}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Queues `record`, waiting while librdkafka's queue is full
/// (back-pressure instead of an error); `waiting` runs before each wait and
/// may give up. Shared with the vendor-topic relay (`source::relay`).
pub(crate) fn send_waiting<C, E>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    mut waiting: impl FnMut() -> Result<(), E>,
) -> Result<(), E>
where
    C: ProducerContext<DeliveryOpaque = ()>,
    E: From<KafkaError>,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                waiting()?;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// [`produce_within`] with the default timeout.
pub fn produce<R: Read>(
    input: R,
    config: &ClientConfig,
    topic: &str,
    rate: f64,
    progress: &mut dyn FnMut(u64),
) -> Result<Produced, ProduceError> {
    produce_within(input, config, topic, rate, DEFAULT_TIMEOUT, progress)
}

/// Sends every non-blank line of `input` to `topic`. `rate` is messages
/// per second (0: as fast as the producer takes them). `progress` gets the
/// bytes read so far. Returns when every message is delivered; gives up
/// with [`ProduceError::Unreachable`] once the brokers have been
/// unreachable for `timeout` (which also bounds each message's delivery,
/// as librdkafka's `message.timeout.ms`, unless configured).
pub fn produce_within<R: Read>(
    input: R,
    config: &ClientConfig,
    topic: &str,
    rate: f64,
    timeout: Duration,
    progress: &mut dyn FnMut(u64),
) -> Result<Produced, ProduceError> {
    let started = Instant::now();
    let brokers = config.get("bootstrap.servers").unwrap_or("?").to_string();
    let health = Health::new(&brokers);
    let mut config = config.clone();
    if config.get("message.timeout.ms").is_none() {
        config.set("message.timeout.ms", timeout.as_millis().max(1).to_string());
    }
    let producer: ThreadedProducer<Counting> = config.create_with_context(Counting {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        health: Arc::clone(&health),
    })?;
    let give_up = |sent: u64| -> Result<(), ProduceError> {
        match health.unreachable() {
            Some((down, _)) if down >= timeout => Err(ProduceError::Unreachable {
                why: health.describe().unwrap_or_default(),
                waited_s: down.as_secs(),
                sent,
                delivered: producer.context().delivered.load(Ordering::Relaxed),
            }),
            _ => Ok(()),
        }
    };
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
            send_waiting(&producer, record, || give_up(out.messages))?;
            out.messages += 1;
            if rate > 0.0 && out.messages.is_multiple_of(64) {
                let due = Duration::from_secs_f64(out.messages as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        progress(reader.bytes_read);
        give_up(out.messages)?;
    }
    // Deliveries end within message.timeout.ms; a little more for the
    // last reports to arrive.
    let flushed = producer.flush(timeout + Duration::from_secs(5));
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 || flushed.is_err() {
        give_up(out.messages)?;
        let why = health
            .describe()
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        return Err(ProduceError::Undelivered {
            failed: failed.max(1),
            sent: out.messages,
            why,
        });
    }
    out.bytes = reader.bytes_read;
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
