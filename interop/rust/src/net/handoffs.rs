//! The carrier: shards held, their next hop, and the `/wdp/migrate/1.0` streams.
//!
//! Each handoff runs in its own task and drives the library's sans-IO
//! machine (`wdp_interop::receiver::Receiver` inbound,
//! `wdp_interop::sender::Sender` outbound) over a libp2p-stream stream: it
//! writes what the machine emits, feeds it what it reads and fires its timer.
//! The carrier book (what is held, reserved, seen) and the shard bytes are
//! shared with those tasks; the schedule of next hops lives in the event loop.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, Stream};
use rand::seq::SliceRandom;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use wdp_interop::audit::{handed_on_lifetime_ms, HandedOn};
use wdp_interop::carrier::{CarrierBook, CarrierConfig, Custody};
use wdp_interop::custody::{key32, make_offer, sign_next_record, Link};
use wdp_interop::error::WdpError;
use wdp_interop::fetch::checks::NonceCache;
use wdp_interop::limits::AUDIT_NONCE_MEMORY;
use wdp_interop::locator::kept_epoch_seconds;
use wdp_interop::objects::{sign_body, Receipt, Record};
use wdp_interop::proto::{Reason, RejectCode};
use wdp_interop::receiver::{Receiver, ReceiverOutcome, ReceiverOutput};
use wdp_interop::sender::{Sender, SenderOutput};
use wdp_interop::signing::{key_from_peer_id_bytes, DOMAIN_RECORD};

use super::behaviour::MIGRATE_PROTOCOL;
use super::events::{emit, hex};
use super::locator::now_ms;

/// Data chunk size (the reference sends 1 MiB chunks).
pub(super) const CHUNK_SIZE: usize = 1 << 20;
/// Retry a failed hop after this long (spec §12 `retry_delay`).
const RETRY_DELAY: Duration = Duration::from_secs(5);
/// Do not offer a shard to a peer that refused it for this long (spec §12 `peer_backoff`).
const PEER_BACKOFF: Duration = Duration::from_secs(60);
/// Opening a stream (dial included) may take this long.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// One write may take this long when the machine has no deadline of its own.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Peers of the last hops a shard avoids going back to (spec §12 `recent_window`).
const RECENT_WINDOW: usize = 8;
/// Bytes asked of one read.
pub(super) const READ_SIZE: usize = 64 * 1024;

type ShardKey = ([u8; 32], u32);

/// Corrupt the next outbound handoff (for the refusal tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Flip a byte of the shard data: the receiver answers SHARD_HASH_MISMATCH.
    Hash,
    /// Flip a bit of the record signature: BAD_SIGNATURE.
    Signature,
    /// Sign a record whose `prev_record_hash` is wrong: BAD_CHAIN.
    Chain,
}

impl Tamper {
    pub fn name(self) -> &'static str {
        match self {
            Tamper::None => "none",
            Tamper::Hash => "hash",
            Tamper::Signature => "signature",
            Tamper::Chain => "chain",
        }
    }
}

impl FromStr for Tamper {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Tamper::None),
            "hash" => Ok(Tamper::Hash),
            "signature" => Ok(Tamper::Signature),
            "chain" => Ok(Tamper::Chain),
            _ => Err(format!(
                "tamper mode {s:?} is not one of none, hash, signature, chain"
            )),
        }
    }
}

/// State shared with the handoff tasks.
pub(super) struct Shared {
    pub(super) book: CarrierBook,
    /// Shard bytes, under the hash of the record that brought them.
    pub(super) shards: HashMap<[u8; 32], Vec<u8>>,
    /// Nonces of fetch requests already served (spec §15.5 F6).
    pub(super) nonces: NonceCache,
    /// Nonces of audit challenges (spec §18.4 A7; a cache of its own).
    pub(super) audit_nonces: NonceCache,
    /// Hops by which this node handed shards on, for audits (spec §18.4 A8).
    pub(super) handed_on: HandedOn,
}

/// What a handoff task tells the event loop.
pub enum HandoffReport {
    Accepted {
        peer: PeerId,
        custody: Box<Custody>,
    },
    InboundEnded {
        peer: PeerId,
        outcome: Option<ReceiverOutcome>,
        record: Option<Record>,
    },
    OutboundEnded {
        key: ShardKey,
        peer: PeerId,
        record: Record,
        tamper: Tamper,
        result: Result<Box<Receipt>, (WdpError, bool)>,
    },
}

/// A locator the event loop must publish: `(dht key, value, expires_at_ms)`.
pub type Publication = (String, Vec<u8>, u64);

pub struct Carrier {
    key: SigningKey,
    shared: Arc<Mutex<Shared>>,
    control: libp2p_stream::Control,
    reports: mpsc::UnboundedSender<HandoffReport>,
    epoch: Option<Duration>,
    tamper: Tamper,
    addrs: Vec<Multiaddr>,
    due: HashMap<ShardKey, Instant>,
    in_flight: HashSet<ShardKey>,
    backoff: HashMap<(ShardKey, PeerId), Instant>,
    came_from: HashMap<ShardKey, PeerId>,
    republish: HashMap<ShardKey, Instant>,
    /// The last locator this node published, per shard: `(dht key, value)`.
    published: HashMap<ShardKey, (String, Vec<u8>)>,
    /// Own locators to drop from the local DHT store: the shard moved on (spec §6.10).
    unpublish: Vec<(String, Vec<u8>)>,
}

impl Carrier {
    pub fn new(
        seed: [u8; 32],
        control: libp2p_stream::Control,
        reports: mpsc::UnboundedSender<HandoffReport>,
        epoch: Option<Duration>,
        tamper: Tamper,
        addrs: Vec<Multiaddr>,
    ) -> Self {
        let shared = Shared {
            book: CarrierBook::new(CarrierConfig::default()),
            shards: HashMap::new(),
            nonces: NonceCache::default(),
            audit_nonces: NonceCache::new(AUDIT_NONCE_MEMORY),
            handed_on: HandedOn::default(),
        };
        Self {
            key: SigningKey::from_bytes(&seed),
            shared: Arc::new(Mutex::new(shared)),
            control,
            reports,
            epoch,
            tamper,
            addrs,
            due: HashMap::new(),
            in_flight: HashSet::new(),
            backoff: HashMap::new(),
            came_from: HashMap::new(),
            republish: HashMap::new(),
            published: HashMap::new(),
            unpublish: Vec::new(),
        }
    }

    /// Serve every inbound `/wdp/migrate/1.0` stream, one task per stream.
    pub fn spawn_acceptor(&self, mut incoming: libp2p_stream::IncomingStreams) {
        let shared = self.shared.clone();
        let key = self.key.clone();
        let reports = self.reports.clone();
        tokio::spawn(async move {
            while let Some((peer, stream)) = incoming.next().await {
                tokio::spawn(serve_inbound(
                    peer,
                    stream,
                    key.clone(),
                    shared.clone(),
                    reports.clone(),
                ));
            }
        });
    }

    /// Serve every inbound `/wdp/fetch/1.0` stream (the owner reads a shard), one task each.
    pub fn spawn_fetch_acceptor(&self, mut incoming: libp2p_stream::IncomingStreams) {
        let shared = self.shared.clone();
        let local_key = self.key.verifying_key().to_bytes();
        tokio::spawn(async move {
            while let Some((peer, stream)) = incoming.next().await {
                tokio::spawn(super::fetch::serve(peer, stream, local_key, shared.clone()));
            }
        });
    }

    /// Serve every inbound `/wdp/audit/1.0` stream (a possession audit), one task each.
    pub fn spawn_audit_acceptor(&self, mut incoming: libp2p_stream::IncomingStreams) {
        let shared = self.shared.clone();
        let local_key = self.key.verifying_key().to_bytes();
        tokio::spawn(async move {
            while let Some((peer, stream)) = incoming.next().await {
                tokio::spawn(super::audit::serve(peer, stream, local_key, shared.clone()));
            }
        });
    }

    /// Handle a finished handoff; returns a locator to publish, if any.
    pub fn on_report(&mut self, report: HandoffReport) -> Option<Publication> {
        match report {
            HandoffReport::Accepted { peer, custody } => {
                let key = (custody.wanderer_id(), custody.shard_index());
                let f = &custody.record.fields;
                emit(json!({
                    "event": "accepted", "from": peer.to_string(),
                    "wanderer": hex(&f.wanderer_id), "shard_index": f.shard_index,
                    "generation": f.generation, "hop": f.hop,
                    "from_key": hex(&f.from_peer), "to_key": hex(&f.to_peer),
                    "record_hash": hex(&custody.record.hash),
                    "chain_len": custody.chain.len(),
                }));
                let epoch = self.epoch.unwrap_or_else(|| {
                    let kept = kept_epoch_seconds(custody.manifest.fields.epoch_seconds);
                    Duration::from_secs(u64::from(kept))
                });
                self.due.insert(key, Instant::now() + epoch);
                self.came_from.insert(key, peer);
                self.publication(&custody)
            }
            HandoffReport::InboundEnded {
                peer,
                outcome,
                record,
            } => {
                if let Some(ReceiverOutcome::Rejected { error, sent }) = outcome {
                    emit(json!({
                        "event": "rejected", "from": peer.to_string(),
                        "code": error.code.name(), "code_num": error.code as i32,
                        "detail": error.detail, "sent": sent,
                        "hop": record.as_ref().map(|r| r.fields.hop),
                    }));
                }
                None
            }
            HandoffReport::OutboundEnded {
                key,
                peer,
                record,
                tamper,
                result,
            } => {
                self.in_flight.remove(&key);
                match result {
                    Ok(receipt) => {
                        let mut shared = self.shared.lock().expect("carrier lock");
                        if let Some(held) = shared.book.held(&key.0, key.1) {
                            let brought = held.record.hash;
                            let came_from = key32(&held.record.fields.from_peer);
                            let lifetime =
                                handed_on_lifetime_ms(held.manifest.fields.epoch_seconds);
                            shared.shards.remove(&brought);
                            // Remember the hop to answer audits with moved (spec §18.4).
                            let link = Link {
                                record: record.clone(),
                                receipt: (*receipt).clone(),
                            };
                            shared
                                .handed_on
                                .remember(link, came_from, lifetime, now_ms());
                        }
                        shared.book.handed_off(&record);
                        drop(shared);
                        self.due.remove(&key);
                        self.came_from.remove(&key);
                        self.republish.remove(&key);
                        self.unpublish.extend(self.published.remove(&key));
                        emit(json!({
                            "event": "handed_off", "to": peer.to_string(),
                            "wanderer": hex(&key.0), "shard_index": key.1,
                            "hop": record.fields.hop, "record_hash": hex(&record.hash),
                            "receipt_verified": true,
                            "receipt_receiver": hex(&receipt.fields.receiver),
                        }));
                    }
                    Err((error, by_peer)) => {
                        let now = Instant::now();
                        self.backoff.insert((key, peer), now + PEER_BACKOFF);
                        if self.due.contains_key(&key) {
                            self.due.insert(key, now + RETRY_DELAY);
                        }
                        emit(json!({
                            "event": if by_peer { "refused" } else { "handoff_failed" },
                            "to": peer.to_string(), "wanderer": hex(&key.0), "shard_index": key.1,
                            "hop": record.fields.hop, "code": error.code.name(),
                            "code_num": error.code as i32, "detail": error.detail,
                            "tamper": tamper.name(),
                        }));
                    }
                }
                None
            }
        }
    }

    /// Start the hops that are due, to peers that speak `/wdp/migrate/1.0`.
    pub fn on_tick(&mut self, now: Instant, peers: &[PeerId]) -> Vec<Publication> {
        self.backoff.retain(|_, until| *until > now);
        let due: Vec<ShardKey> = self
            .due
            .iter()
            .filter(|(k, at)| **at <= now && !self.in_flight.contains(*k))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(peer) = self.choose(key, peers) else {
                continue;
            };
            self.start_hop(key, peer);
        }
        let mut out = Vec::new();
        let republish: Vec<ShardKey> = self
            .republish
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in republish {
            let custody = self
                .shared
                .lock()
                .expect("carrier lock")
                .book
                .held(&key.0, key.1)
                .cloned();
            match custody {
                Some(c) => out.extend(self.publication(&c)),
                None => {
                    self.republish.remove(&key);
                }
            }
        }
        out
    }

    /// Placement (spec §12, simplified): not back to the last hops' peers nor
    /// to the peer it came from when another peer is there; never a peer in back-off.
    fn choose(&self, key: ShardKey, peers: &[PeerId]) -> Option<PeerId> {
        let recent: HashSet<[u8; 32]> = {
            let shared = self.shared.lock().expect("carrier lock");
            let held = shared.book.held(&key.0, key.1)?;
            held.chain
                .iter()
                .rev()
                .take(RECENT_WINDOW)
                .flat_map(|l| {
                    [
                        key32(&l.record.fields.from_peer),
                        key32(&l.record.fields.to_peer),
                    ]
                })
                .collect()
        };
        let own = self.key.verifying_key().to_bytes();
        let open: Vec<PeerId> = peers
            .iter()
            .filter(|p| !self.backoff.contains_key(&(key, **p)))
            .filter(|p| peer_key(p).is_some_and(|k| k != own))
            .copied()
            .collect();
        let fresh: Vec<PeerId> = open
            .iter()
            .filter(|p| self.came_from.get(&key) != Some(*p))
            .filter(|p| peer_key(p).is_some_and(|k| !recent.contains(&k)))
            .copied()
            .collect();
        let pool = if fresh.is_empty() { open } else { fresh };
        pool.choose(&mut rand::thread_rng()).copied()
    }

    fn start_hop(&mut self, key: ShardKey, peer: PeerId) {
        let Some(to_key) = peer_key(&peer) else {
            return;
        };
        let (custody, shard) = {
            let shared = self.shared.lock().expect("carrier lock");
            let Some(custody) = shared.book.held(&key.0, key.1).cloned() else {
                return;
            };
            let Some(shard) = shared.shards.get(&custody.record.hash).cloned() else {
                return;
            };
            (custody, shard)
        };
        let tamper = std::mem::replace(&mut self.tamper, Tamper::None);
        let mut record =
            sign_next_record(&self.key, &custody.record, &to_key, Reason::Ttl, now_ms());
        match tamper {
            Tamper::Signature => record.signature[0] ^= 0x01,
            Tamper::Chain => {
                let mut fields = record.fields.clone();
                fields.prev_record_hash[0] ^= 0x01;
                record = sign_body(&fields, DOMAIN_RECORD, &self.key);
            }
            Tamper::Hash | Tamper::None => {}
        }
        let offer = make_offer(
            &custody.manifest,
            &custody.chain,
            &record,
            &custody.locator_secret,
        );
        let sender = match Sender::new(offer, shard, CHUNK_SIZE) {
            Ok(s) => s,
            Err(e) => {
                emit(
                    json!({"event": "handoff_failed", "to": peer.to_string(), "code": e.code.name(), "detail": e.detail}),
                );
                return;
            }
        };
        self.in_flight.insert(key);
        emit(json!({
            "event": "offering", "to": peer.to_string(), "wanderer": hex(&key.0),
            "shard_index": key.1, "hop": record.fields.hop, "tamper": tamper.name(),
        }));
        let control = self.control.clone();
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let result = run_outbound(control, peer, sender, tamper == Tamper::Hash).await;
            let _ = reports.send(HandoffReport::OutboundEnded {
                key,
                peer,
                record,
                tamper,
                result,
            });
        });
    }

    fn publication(&mut self, custody: &Custody) -> Option<Publication> {
        let key = (custody.wanderer_id(), custody.shard_index());
        match super::locator::make(custody, &self.key.verifying_key().to_bytes(), &self.addrs) {
            Ok((dht_key, value, expires_at_ms, half_life)) => {
                self.republish.insert(key, Instant::now() + half_life);
                self.published.insert(key, (dht_key.clone(), value.clone()));
                Some((dht_key, value, expires_at_ms))
            }
            Err(e) => {
                emit(json!({"event": "locator_failed", "error": e}));
                None
            }
        }
    }

    pub fn status(&self) -> Value {
        let shared = self.shared.lock().expect("carrier lock");
        Value::Array(
            shared
                .book
                .held_shards()
                .map(|c| {
                    json!({
                        "wanderer": hex(&c.wanderer_id()), "shard_index": c.shard_index(),
                        "generation": c.record.fields.generation, "hop": c.record.fields.hop,
                        "record_hash": hex(&c.record.hash), "chain_len": c.chain.len(),
                    })
                })
                .collect(),
        )
    }

    /// Own locators `(dht key, value)` to withdraw: this node handed those shards on.
    pub fn take_unpublished(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.unpublish)
    }

    pub fn set_tamper(&mut self, tamper: Tamper) {
        self.tamper = tamper;
    }

    /// Every held shard is due now.
    pub fn hand_off_now(&mut self) {
        let now = Instant::now();
        for at in self.due.values_mut() {
            *at = now;
        }
        self.backoff.clear();
    }
}

/// The Ed25519 key of a PeerId that inlines one (spec §1), else None.
pub fn peer_key(peer: &PeerId) -> Option<[u8; 32]> {
    key_from_peer_id_bytes(&peer.to_bytes())
}

pub(super) fn sleep_until_ms(deadline: Option<u64>) -> tokio::time::Sleep {
    let wait = match deadline {
        Some(d) => Duration::from_millis(d.saturating_sub(now_ms())),
        None => WRITE_TIMEOUT,
    };
    tokio::time::sleep(wait)
}

pub(super) async fn write(stream: &mut Stream, bytes: &[u8], deadline: Option<u64>) -> bool {
    tokio::select! {
        r = stream.write_all(bytes) => r.is_ok(),
        _ = sleep_until_ms(deadline) => false,
    }
}

async fn serve_inbound(
    peer: PeerId,
    mut stream: Stream,
    key: SigningKey,
    shared: Arc<Mutex<Shared>>,
    reports: mpsc::UnboundedSender<HandoffReport>,
) {
    let mut rx = Receiver::new(key, peer_key(&peer), now_ms());
    let mut buf = vec![0u8; READ_SIZE];
    let mut closed = false;
    loop {
        while let Some(output) = rx.poll_output() {
            match output {
                ReceiverOutput::Send(bytes) => {
                    if !closed && !write(&mut stream, &bytes, rx.next_deadline()).await {
                        rx.stream_lost();
                    }
                }
                ReceiverOutput::Store { record_hash, shard } => {
                    shared
                        .lock()
                        .expect("carrier lock")
                        .shards
                        .insert(record_hash, shard);
                    rx.store_finished(now_ms(), true);
                }
                ReceiverOutput::Custody(custody) => {
                    shared
                        .lock()
                        .expect("carrier lock")
                        .book
                        .take_custody((*custody).clone());
                    let _ = reports.send(HandoffReport::Accepted { peer, custody });
                }
                ReceiverOutput::Release { record_hash }
                | ReceiverOutput::DeleteStored { record_hash } => {
                    let mut s = shared.lock().expect("carrier lock");
                    s.book.release(&record_hash);
                    let held = s.book.held_shards().any(|c| c.record.hash == record_hash);
                    if !held {
                        s.shards.remove(&record_hash);
                    }
                }
                ReceiverOutput::Close => {
                    if !closed {
                        let _ = tokio::time::timeout(Duration::from_secs(5), stream.close()).await;
                        closed = true;
                    }
                }
            }
        }
        if rx.is_terminal() || closed {
            break;
        }
        tokio::select! {
            n = stream.read(&mut buf) => match n {
                Ok(0) | Err(_) => rx.stream_lost(),
                Ok(n) => {
                    let mut s = shared.lock().expect("carrier lock");
                    rx.feed(now_ms(), &buf[..n], &mut s.book);
                }
            },
            _ = sleep_until_ms(rx.next_deadline()) => rx.handle_timer(now_ms()),
        }
    }
    let record = rx.offer().map(|o| o.record.clone());
    let _ = reports.send(HandoffReport::InboundEnded {
        peer,
        outcome: rx.outcome().cloned(),
        record,
    });
}

async fn run_outbound(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut tx: Sender,
    corrupt_data: bool,
) -> Result<Box<Receipt>, (WdpError, bool)> {
    let lost = |detail: String| (WdpError::new(RejectCode::Timeout, detail), false);
    let mut stream =
        match tokio::time::timeout(OPEN_TIMEOUT, control.open_stream(peer, MIGRATE_PROTOCOL)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(lost(format!("cannot open {MIGRATE_PROTOCOL}: {e}"))),
            Err(_) => return Err(lost("opening the stream timed out".into())),
        };
    tx.start(now_ms());
    let mut buf = vec![0u8; READ_SIZE];
    let mut receipt = None;
    let mut corrupt_next = corrupt_data;
    let mut closed = false;
    loop {
        while let Some(output) = tx.poll_output() {
            match output {
                SenderOutput::Send(mut bytes) => {
                    // A Data frame ends with its chunk (Data { offset = 1, chunk = 2 }).
                    if corrupt_next && tx.state() == wdp_interop::sender::SenderState::AwaitReceipt
                    {
                        if let Some(last) = bytes.last_mut() {
                            *last ^= 0x01;
                        }
                        corrupt_next = false;
                    }
                    if !closed && !write(&mut stream, &bytes, tx.next_deadline()).await {
                        tx.stream_lost();
                    }
                }
                SenderOutput::Wipe { receipt: r } => receipt = Some(r),
                SenderOutput::Close => {
                    if !closed {
                        let _ = tokio::time::timeout(Duration::from_secs(5), stream.close()).await;
                        closed = true;
                    }
                }
            }
        }
        if tx.is_terminal() || closed {
            break;
        }
        tokio::select! {
            n = stream.read(&mut buf) => match n {
                Ok(0) | Err(_) => tx.stream_lost(),
                Ok(n) => tx.feed(now_ms(), &buf[..n]),
            },
            _ = sleep_until_ms(tx.next_deadline()) => tx.handle_timer(now_ms()),
        }
    }
    match (receipt, tx.failure()) {
        (Some(r), _) => Ok(r),
        (None, Some((e, by_peer))) => Err((e.clone(), *by_peer)),
        (None, None) => Err(lost("the handoff did not finish".into())),
    }
}
