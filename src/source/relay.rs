//! The relay of vendor log topics (`[kafka.adapt]`, docs/adapters/): a
//! consumer in group `<group_id>-adapt` reads the vendor's records as they
//! are, the adapters translate each into native events, and a producer
//! writes those to the events topic keyed by account.
//!
//! Why a relay and not adapters inside the workers: a vendor topic is keyed
//! by whatever its shipper chose, and one record can hold events for two
//! accounts (an admin's grant also counts on the target). Re-keying by
//! account puts every event on the partition of its account's one owner,
//! as Kafka Streams re-partitions before a stateful step.
//!
//! At least once: a batch's offsets are committed only after the broker
//! acknowledged every event and dead letter made from it. A delivery that
//! fails for good stops the relay without committing (the restart reads
//! the batch again), as a worker does.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::adapt::{AdaptError, Batch, Format, adapt, write_native};
use crate::config::Config;
use crate::decode::MAX_EVENT_BYTES;
use crate::kafka::{Health, Role, client_config};
use crate::metrics::Metrics;
use crate::produce::{Counting, send_waiting};
use crate::sink::kafka::{DeadLetter, dead_letter_record, max_message_bytes};

/// Distinct vendor types per format that get their own metric label.
const MAX_TYPE_LABELS: usize = 100;
/// Records handled between two commits, and the longest a batch stays open.
const BATCH_MAX: usize = 1024;
const BATCH_LINGER: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay: kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(
        "relay: {failed} events or dead letters undelivered for good; stopping without committing (a restart reads them again)"
    )]
    Undelivered { failed: u64 },
    #[error("relay panicked")]
    Panicked,
}

/// What the relay did.
#[derive(Debug, Default, Clone)]
pub struct RelayStats {
    pub records: u64,
    pub events: u64,
    pub unmapped: u64,
    pub invalid: u64,
    pub commits: u64,
}

/// A running relay.
pub struct Relay {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<RelayStats, RelayError>>,
}

impl Relay {
    /// Starts the relay if `[kafka.adapt]` names any topic.
    pub fn start(cfg: &Config, metrics: Arc<Metrics>) -> Result<Option<Relay>, RelayError> {
        let inputs = cfg.kafka.adapt.inputs();
        if inputs.is_empty() {
            return Ok(None);
        }
        let mut consumer_cfg = client_config(&cfg.kafka, Role::Consumer);
        consumer_cfg.set("group.id", format!("{}-adapt", cfg.kafka.group_id));
        // Records are independent: no co-partitioning to keep.
        consumer_cfg.set("partition.assignment.strategy", "cooperative-sticky");
        let consumer: BaseConsumer = consumer_cfg.create()?;
        let topics: Vec<&str> = inputs.iter().map(|(t, _)| t.as_str()).collect();
        consumer.subscribe(&topics)?;
        let health = Health::new(&cfg.kafka.brokers);
        let producer_cfg = client_config(&cfg.kafka, Role::Producer);
        let producer: ThreadedProducer<Counting> = producer_cfg.create_with_context(Counting {
            delivered: Default::default(),
            failed: Default::default(),
            health,
        })?;
        let mut r = Relayer {
            consumer,
            work: Work {
                producer,
                formats: inputs.into_iter().collect(),
                to: cfg.kafka.adapt.destination(&cfg.kafka).to_owned(),
                dead_letters: Some(cfg.kafka.dead_letter_topic.clone()).filter(|t| !t.is_empty()),
                max_message_bytes: max_message_bytes(&producer_cfg),
                drain: Duration::from_millis(cfg.kafka.drain_timeout_ms().max(1) as u64),
                metrics,
                labels: HashMap::new(),
                stats: RelayStats::default(),
                line: Vec::with_capacity(1024),
                consumer_errors: 0,
            },
            unconfirmed: false,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("kawal-relay".into())
            .spawn(move || {
                let _span = tracing::info_span!("relay").entered();
                r.run(&flag)
            })
            .expect("spawn the relay thread");
        Ok(Some(Relay { stop, handle }))
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops after the current batch is delivered and committed.
    pub fn stop(self) -> Result<RelayStats, RelayError> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().map_err(|_| RelayError::Panicked)?
    }
}

struct Relayer {
    consumer: BaseConsumer,
    work: Work,
    /// Offsets stored that the broker has not confirmed committed (a
    /// commit refused while the group rebalanced): committed again on
    /// the next batch, also an empty one.
    unconfirmed: bool,
}

/// Everything but the consumer (whose messages borrow it while handled).
struct Work {
    producer: ThreadedProducer<Counting>,
    formats: HashMap<String, Format>,
    to: String,
    dead_letters: Option<String>,
    /// The producer's `message.max.bytes`, which dead letters are cut to.
    max_message_bytes: usize,
    drain: Duration,
    metrics: Arc<Metrics>,
    /// Vendor types with their own label, per format.
    labels: HashMap<Format, std::collections::HashSet<String>>,
    stats: RelayStats,
    line: Vec<u8>,
    consumer_errors: u64,
}

impl Relayer {
    fn run(&mut self, stop: &AtomicBool) -> Result<RelayStats, RelayError> {
        let w = &self.work;
        tracing::info!(topics = ?w.formats, to = %w.to, "relaying vendor topics");
        while !stop.load(Ordering::Relaxed) {
            self.one_batch(stop)?;
        }
        // One last try for offsets refused on the way out (else a restart
        // reads their records again).
        if self.unconfirmed {
            self.commit_stored();
        }
        let st = &self.work.stats;
        tracing::info!(records = st.records, events = st.events, "relay done");
        Ok(st.clone())
    }

    /// Reads up to a batch of records, produces what they become, waits
    /// for the broker's acknowledgements, then commits their offsets.
    fn one_batch(&mut self, stop: &AtomicBool) -> Result<(), RelayError> {
        let opened = Instant::now();
        let mut next: HashMap<(String, i32), i64> = HashMap::new();
        let mut handled = 0;
        let w = &mut self.work;
        let failed_before = w.producer.context().failed.load(Ordering::Relaxed);
        while handled < BATCH_MAX && opened.elapsed() < BATCH_LINGER {
            let Some(msg) = self.consumer.poll(Duration::from_millis(20)) else {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    // Rate-limited: a missing topic errs on every poll.
                    w.consumer_errors += 1;
                    if w.consumer_errors <= 3 || w.consumer_errors.is_power_of_two() {
                        tracing::warn!(error = %e, count = w.consumer_errors, "relay: consumer error");
                    }
                    continue;
                }
            };
            let Some(&format) = w.formats.get(msg.topic()) else {
                continue; // not subscribed (cannot happen)
            };
            w.record(format, &msg)?;
            handled += 1;
            next.insert((msg.topic().to_owned(), msg.partition()), msg.offset() + 1);
        }
        if next.is_empty() {
            if self.unconfirmed {
                self.commit_stored();
            }
            return Ok(());
        }
        // Every event and dead letter of the batch acknowledged, or none
        // of its offsets committed.
        let flushed = w.producer.flush(w.drain);
        let failed = w.producer.context().failed.load(Ordering::Relaxed) - failed_before;
        if flushed.is_err() || failed > 0 {
            return Err(RelayError::Undelivered {
                failed: failed.max(1),
            });
        }
        let mut tpl = TopicPartitionList::with_capacity(next.len());
        for ((t, p), o) in &next {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
        }
        // Stored, then committed with whatever else is stored: librdkafka
        // stores offsets only for partitions still assigned (a partition
        // revoked meanwhile is its new owner's, which reads those records
        // again: at least once, and the detector skips an account's
        // repeated event ids), and commits only offsets above those it
        // had confirmed.
        if let Err(e) = self.consumer.store_offsets(&tpl) {
            tracing::debug!(error = %e, "relay: offsets not stored (partitions revoked)");
        }
        self.commit_stored();
        Ok(())
    }

    /// Commits the stored offsets. A commit refused because the group is
    /// rebalancing (another instance joined or left) is not a failure of
    /// the relay: it is tried again with the next batch, also an empty
    /// one. Until 2026-12-08 a refused commit was dropped, and a
    /// partition's last records stayed uncommitted for good (their lag
    /// never zero, re-read by a restart), as in the detector's workers.
    fn commit_stored(&mut self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => {
                self.work.stats.commits += 1;
                self.unconfirmed = false;
            }
            // Nothing stored above what was confirmed.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => self.unconfirmed = false,
            Err(e) => {
                if !self.unconfirmed {
                    tracing::warn!(error = %e, "relay: commit refused (a rebalance?); trying again with the next batch");
                }
                self.unconfirmed = true;
            }
        }
    }
}

impl Work {
    fn record(
        &mut self,
        format: Format,
        msg: &rdkafka::message::BorrowedMessage<'_>,
    ) -> Result<(), RelayError> {
        let payload = msg.payload().unwrap_or(&[]);
        self.stats.records += 1;
        let f = format.as_str();
        self.metrics.adapt.records.with_label_values(&[f]).inc();
        let parsed = if payload.len() > MAX_EVENT_BYTES {
            Err(AdaptError::TooLarge)
        } else {
            serde_json::from_slice::<Value>(payload).map_err(AdaptError::from)
        };
        let v = match parsed {
            Ok(v) => v,
            Err(e) => return self.invalid(format, msg, &e),
        };
        let mut b = Batch::default();
        if let Err(e) = adapt(format, &v, &mut b) {
            return self.invalid(format, msg, &e);
        }
        for t in &b.unmapped {
            self.unmapped(format, t);
        }
        for ev in &b.events {
            self.line.clear();
            write_native(ev, &mut self.line);
            let record = BaseRecord::<[u8], [u8]>::to(&self.to)
                .key(ev.account.as_bytes())
                .payload(&self.line);
            send_waiting(&self.producer, record, || Ok::<_, RelayError>(()))?;
            self.stats.events += 1;
            self.metrics.adapt.events.with_label_values(&[f]).inc();
        }
        Ok(())
    }

    fn unmapped(&mut self, format: Format, vendor_type: &str) {
        self.stats.unmapped += 1;
        let known = self.labels.entry(format).or_default();
        let label = if known.contains(vendor_type) {
            vendor_type
        } else if known.len() < MAX_TYPE_LABELS {
            known.insert(vendor_type.to_owned());
            vendor_type
        } else {
            "other"
        };
        self.metrics
            .adapt
            .unmapped
            .with_label_values(&[format.as_str(), label])
            .inc();
    }

    /// The one place a record that is not the format is counted, logged
    /// (the first few, then every power of two) and dead-lettered, as the
    /// workers' dead letters are (`sink::kafka::dead_letter_record`: its
    /// headers kept, `kawal.*` headers added, cut to fit).
    fn invalid(
        &mut self,
        format: Format,
        msg: &rdkafka::message::BorrowedMessage<'_>,
        e: &AdaptError,
    ) -> Result<(), RelayError> {
        self.stats.invalid += 1;
        self.metrics
            .adapt
            .invalid
            .with_label_values(&[format.as_str(), e.kind()])
            .inc();
        let n = self.stats.invalid;
        if n <= 3 || n.is_power_of_two() {
            tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), format = format.as_str(), error = %e, "record is not the format: dead-lettered");
        }
        let Some(dlq) = &self.dead_letters else {
            return Ok(());
        };
        let error = e.to_string();
        let (key, payload) = (msg.key().unwrap_or(&[]), msg.payload().unwrap_or(&[]));
        let why = DeadLetter {
            kind: e.kind(),
            error: &error,
            topic: msg.topic(),
            partition: msg.partition(),
            offset: msg.offset(),
        };
        let d = dead_letter_record(self.max_message_bytes, key, payload, msg.headers(), why);
        let mut record = BaseRecord::<[u8], [u8]>::to(dlq)
            .payload(&payload[..d.payload_len])
            .headers(d.headers);
        if !key.is_empty() {
            record = record.key(&key[..d.key_len]);
        }
        send_waiting(&self.producer, record, || Ok::<_, RelayError>(()))
    }
}
