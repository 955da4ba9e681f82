//! Snapshots in a compacted Kafka topic.
//!
//! Input partition `p` is snapshotted to partition `p mod n` of the state
//! topic (`n` its partition count; create it with as many partitions as
//! the events topic, `cleanup.policy=compact`). Keys name the partition
//! and the chunk, `"{p}/{slot}/{i}"`, and the manifest, `"{p}/m"`; the
//! manifest is written after every chunk is acknowledged, and names the
//! offset of its first chunk. Snapshots alternate between two slots, so
//! the chunks of the newest complete snapshot are never the ones being
//! overwritten: compaction keeps the newest value of each key, and a
//! crash half way through a snapshot leaves the previous manifest's
//! chunks, in the other slot, intact.
//!
//! Reading: the newest manifest of `p` is found by scanning back from the
//! end of its partition in growing windows (it is normally the last
//! message), then the chunks are read from the manifest's first chunk
//! offset up to the manifest, each checked against the manifest's CRC.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{Snapshot, StateError};
use crate::config::KafkaConfig;
use crate::kafka::{Role, client_config};

/// Delivery reports of one snapshot: (index, offset or error).
#[derive(Default)]
pub struct Reports {
    done: Mutex<Vec<(usize, Result<i64, String>)>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<usize>;
    fn delivery(&self, result: &DeliveryResult<'_>, i: Box<usize>) {
        let r = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.to_string()),
        };
        self.done.lock().expect("reports").push((*i, r));
    }
}

pub struct SnapshotStore {
    topic: String,
    producer: BaseProducer<Reports>,
    consumer: BaseConsumer,
    /// Partitions of the state topic (looked up once).
    partitions: Mutex<Option<i32>>,
    timeout: Duration,
}

impl SnapshotStore {
    pub fn new(
        cfg: &KafkaConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<SnapshotStore, StateError> {
        let mut p = client_config(cfg, Role::Producer);
        // Chunks are LZ4 already; compressing them again costs CPU for
        // nothing. A snapshot is flushed as a whole, so no linger.
        p.set("compression.type", "none")
            .set("linger.ms", "0")
            .set("statistics.interval.ms", "0");
        let producer: BaseProducer<Reports> = p.create_with_context(Reports::default())?;
        let mut c = client_config(cfg, Role::Consumer);
        // Reads by assignment, never in the group: no commits.
        c.set("group.id", format!("{}-state-reader", cfg.group_id))
            .remove("group.instance.id")
            .remove("partition.assignment.strategy")
            .set("fetch.wait.max.ms", "10")
            .set("statistics.interval.ms", "0");
        let consumer: BaseConsumer = c.create()?;
        Ok(SnapshotStore {
            topic: topic.to_string(),
            producer,
            consumer,
            partitions: Mutex::new(None),
            timeout,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Checks that the state topic exists, creating it (compacted, with
    /// `partitions` partitions) if it does not; an error says how to
    /// create it by hand when kawal may not.
    pub fn ensure(&self, cfg: &KafkaConfig, partitions: i32) -> Result<(), StateError> {
        if self.partition_of(0).is_ok() {
            return Ok(());
        }
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
            client_config(cfg, Role::Producer).create()?;
        let topic = self.topic.clone();
        let timeout = self.timeout;
        // The admin API is asynchronous; a private runtime on its own
        // thread waits for it (this may run inside another runtime).
        let created = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let new = rdkafka::admin::NewTopic::new(
                &topic,
                partitions.max(1),
                rdkafka::admin::TopicReplication::Fixed(-1),
            )
            .set("cleanup.policy", "compact");
            let opts = rdkafka::admin::AdminOptions::new().operation_timeout(Some(timeout));
            let r = rt
                .block_on(admin.create_topics([&new], &opts))
                .map_err(|e| e.to_string())?;
            match r.into_iter().next() {
                Some(Ok(_)) | None => Ok(()),
                Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
                Some(Err((_, code))) => Err(code.to_string()),
            }
        })
        .join()
        .unwrap_or_else(|_| Err("the admin thread panicked".into()));
        *self.partitions.lock().expect("partitions") = None;
        match created {
            Ok(()) if self.partition_of(0).is_ok() => {
                tracing::info!(topic = %self.topic, partitions, "created the state topic (compacted)");
                Ok(())
            }
            Ok(()) => Err(StateError::Incompatible(format!(
                "state topic {} was created but is not visible yet",
                self.topic
            ))),
            Err(why) => Err(StateError::Incompatible(format!(
                "state topic {} does not exist and could not be created ({why}): create it with cleanup.policy=compact and {partitions} partitions, or set state.topic = \"\" to keep state only in state.dir",
                self.topic
            ))),
        }
    }

    /// Partitions of `topic` (0 if it does not exist or the brokers
    /// cannot say).
    pub fn partitions_of(&self, topic: &str) -> i32 {
        self.count_partitions(topic).unwrap_or(0)
    }

    /// Partitions of `topic` from the brokers' metadata (0 if it does not
    /// exist).
    fn count_partitions(&self, topic: &str) -> Result<i32, rdkafka::error::KafkaError> {
        let md = self.consumer.fetch_metadata(Some(topic), self.timeout)?;
        Ok(md
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map_or(0, |t| t.partitions().len() as i32))
    }

    fn partition_of(&self, p: i32) -> Result<i32, StateError> {
        let mut known = self.partitions.lock().expect("partitions");
        let n = match *known {
            Some(n) => n,
            None => {
                let n = self.count_partitions(&self.topic)?;
                if n == 0 {
                    return Err(StateError::Incompatible(format!(
                        "state topic {} does not exist (create it compacted, with as many partitions as the events topic)",
                        self.topic
                    )));
                }
                *known = Some(n);
                n
            }
        };
        Ok(p.rem_euclid(n))
    }

    /// Writes the chunks, waits for them, then the manifest (with the
    /// offset of its first chunk filled in), and waits for it.
    pub fn publish(&self, snap: &mut Snapshot) -> Result<(), StateError> {
        let p = snap.manifest.partition;
        let sp = self.partition_of(p)?;
        let slot = snap.manifest.slot;
        self.producer
            .context()
            .done
            .lock()
            .expect("reports")
            .clear();
        for (i, c) in snap.chunks.iter().enumerate() {
            let key = format!("{p}/{slot}/{i}");
            self.send(sp, &key, c, i)?;
        }
        let offsets = self.wait(snap.chunks.len())?;
        snap.manifest.first_chunk_offset = offsets.iter().copied().min();
        let body = serde_json::to_vec(&snap.manifest).expect("manifest serialises");
        self.send(sp, &format!("{p}/m"), &body, 0)?;
        self.wait(1)?;
        Ok(())
    }

    fn send(&self, sp: i32, key: &str, payload: &[u8], i: usize) -> Result<(), StateError> {
        let mut record = BaseRecord::with_opaque_to(&self.topic, Box::new(i))
            .partition(sp)
            .key(key)
            .payload(payload);
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) if Instant::now() < deadline => {
                    record = r;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Waits for `n` delivery reports; their offsets by index.
    fn wait(&self, n: usize) -> Result<Vec<i64>, StateError> {
        self.producer.flush(self.timeout)?;
        let done = std::mem::take(&mut *self.producer.context().done.lock().expect("reports"));
        if done.len() < n {
            return Err(StateError::Corrupt(format!(
                "{} of {n} snapshot messages acknowledged",
                done.len()
            )));
        }
        let mut offsets = vec![0; n];
        for (i, r) in done {
            match r {
                Ok(o) if i < n => offsets[i] = o,
                Ok(_) => {}
                Err(e) => return Err(StateError::Corrupt(format!("snapshot message lost: {e}"))),
            }
        }
        Ok(offsets)
    }

    /// The newest complete snapshot of input partition `p`, if any.
    pub fn latest(&self, p: i32) -> Result<Option<Snapshot>, StateError> {
        match self.latest_manifest(p)? {
            Some((at, m)) => self.fetch(p, m, at).map(Some),
            None => Ok(None),
        }
    }

    /// Reads the chunks the manifest at offset `at` names.
    pub fn fetch(
        &self,
        p: i32,
        manifest: super::Manifest,
        at: i64,
    ) -> Result<Snapshot, StateError> {
        let sp = self.partition_of(p)?;
        let first = manifest.first_chunk_offset.unwrap_or(0);
        let prefix = format!("{p}/{}/", manifest.slot);
        let mut chunks: Vec<Option<Vec<u8>>> = vec![None; manifest.chunks.len()];
        self.scan(sp, first, at, |key, payload, _| {
            if let Some(i) = key
                .strip_prefix(prefix.as_str())
                .and_then(|i| i.parse::<usize>().ok())
                && i < chunks.len()
            {
                chunks[i] = Some(payload.to_vec());
            }
        })?;
        let mut got = Vec::with_capacity(chunks.len());
        for (i, c) in chunks.into_iter().enumerate() {
            match c {
                Some(c) => got.push(c),
                None => {
                    return Err(StateError::Corrupt(format!(
                        "partition {p}: chunk {i} of the newest snapshot is missing from {}",
                        self.topic
                    )));
                }
            }
        }
        Ok(Snapshot {
            manifest,
            chunks: got,
        })
    }

    /// The offset of the newest manifest of `p` in the state topic, and
    /// the manifest.
    pub fn latest_manifest(&self, p: i32) -> Result<Option<(i64, super::Manifest)>, StateError> {
        let sp = self.partition_of(p)?;
        let (low, high) = self
            .consumer
            .fetch_watermarks(&self.topic, sp, self.timeout)?;
        let key = format!("{p}/m");
        let mut end = high;
        let mut window = 8i64;
        while end > low {
            let start = (end - window).max(low);
            let mut found = None;
            self.scan(sp, start, end, |k, payload, offset| {
                if k == key {
                    found = Some((offset, payload.to_vec()));
                }
            })?;
            // `scan` reports messages in order: the last found is newest.
            if let Some((at, bytes)) = found {
                let m = serde_json::from_slice(&bytes).map_err(|e| {
                    StateError::Corrupt(format!("manifest of partition {p} at offset {at}: {e}"))
                })?;
                return Ok(Some((at, m)));
            }
            end = start;
            window = window.saturating_mul(4);
        }
        Ok(None)
    }

    /// Calls `f(key, payload, offset)` for the messages of state partition `sp`
    /// in `[from, to)`, in order.
    fn scan(
        &self,
        sp: i32,
        from: i64,
        to: i64,
        mut f: impl FnMut(&str, &[u8], i64),
    ) -> Result<(), StateError> {
        if from >= to {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, sp, Offset::Offset(from))?;
        self.consumer.assign(&tpl)?;
        let deadline = Instant::now() + self.timeout;
        let result = loop {
            if Instant::now() > deadline {
                break Err(StateError::Corrupt(format!(
                    "reading {} partition {sp} [{from}, {to}) timed out",
                    self.topic
                )));
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if m.offset() >= to {
                        break Ok(());
                    }
                    let key = m.key().and_then(|k| std::str::from_utf8(k).ok());
                    if let Some(k) = key {
                        f(k, m.payload().unwrap_or(&[]), m.offset());
                    }
                    if m.offset() + 1 >= to {
                        break Ok(());
                    }
                }
                Some(Err(e)) => break Err(e.into()),
                None => {}
            }
        };
        self.consumer.unassign()?;
        result
    }
}
