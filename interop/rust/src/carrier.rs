//! A carrier's local state around handoffs (spec §6.9, §6.10, §7 stages C
//! and D, §15.5 F7): what it carries, what it has seen, what it reserved.
//!
//! Pure book-keeping, no I/O: the driver stores shard bytes itself and tells
//! this book what happened. [`CarrierBook`] implements [`Admission`], which
//! the receiver machine consults once an offer passed stages A and B.

use std::collections::{HashMap, VecDeque};

use crate::custody::{key32, DecodedOffer, Link};
use crate::error::{fail, Result};
use crate::objects::{Manifest, Receipt, Record};
use crate::proto::RejectCode;

/// Stage C and D decisions the receiver machine needs from local state.
pub trait Admission {
    /// Stage C: the receipt this node signed, if it currently carries the
    /// shard of `record` because of that very record (same hash).
    fn retried_receipt(&self, record: &Record) -> Option<Receipt>;
    /// Stage D (D1-D5, in order): `Ok` reserves `shard_size` bytes under the
    /// record hash; `Err` carries the refusal code.
    fn admit(&mut self, offer: &DecodedOffer) -> Result<()>;
}

/// What a carrier keeps for a shard it carries (spec §6.10).
#[derive(Clone, Debug, PartialEq)]
pub struct Custody {
    pub manifest: Manifest,
    /// The record that made this node the carrier (`to_peer` = this node).
    pub record: Record,
    /// The receipt this node signed for it.
    pub receipt: Receipt,
    /// Completed hops to offer with the next hop: offered links + the new one, ≤ 64.
    pub chain: Vec<Link>,
    pub locator_secret: [u8; 32],
}

impl Custody {
    pub fn wanderer_id(&self) -> [u8; 32] {
        key32(&self.record.fields.wanderer_id)
    }
    pub fn shard_index(&self) -> u32 {
        self.record.fields.shard_index
    }
    pub fn shard_size(&self) -> u64 {
        self.manifest.fields.shard_size
    }
}

/// Local policy of spec §12 used by stage D.
#[derive(Clone, Debug)]
pub struct CarrierConfig {
    pub capacity: u64,
    pub max_inbound: usize,
    /// Shards whose highest `(generation, hop)` is remembered (D1).
    pub seen_memory: usize,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        CarrierConfig {
            capacity: 1 << 30,
            max_inbound: 8,
            seen_memory: 100_000,
        }
    }
}

type ShardKey = ([u8; 32], u32);

#[derive(Debug)]
struct Reservation {
    wanderer_id: [u8; 32],
    bytes: u64,
}

/// A carrier's shards, reservations and highest hops seen.
#[derive(Debug, Default)]
pub struct CarrierBook {
    pub config: CarrierConfig,
    /// Draining or panicking: offers are refused with SHUTTING_DOWN (D2).
    pub shutting_down: bool,
    held: HashMap<ShardKey, Custody>,
    reserved: HashMap<[u8; 32], Reservation>,
    seen: HashMap<ShardKey, (u32, u64)>,
    seen_order: VecDeque<ShardKey>,
}

impl CarrierBook {
    pub fn new(config: CarrierConfig) -> Self {
        CarrierBook {
            config,
            ..Default::default()
        }
    }

    /// Raises the highest `(generation, hop)` seen for a shard (never lowers it).
    pub fn note_seen(
        &mut self,
        wanderer_id: [u8; 32],
        shard_index: u32,
        generation: u32,
        hop: u64,
    ) {
        let key = (wanderer_id, shard_index);
        match self.seen.get_mut(&key) {
            Some(pair) => *pair = (*pair).max((generation, hop)),
            None => {
                self.seen.insert(key, (generation, hop));
                self.seen_order.push_back(key);
                while self.seen_order.len() > self.config.seen_memory.max(1) {
                    if let Some(old) = self.seen_order.pop_front() {
                        self.seen.remove(&old);
                    }
                }
            }
        }
    }

    pub fn seen(&self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<(u32, u64)> {
        self.seen.get(&(*wanderer_id, shard_index)).copied()
    }

    /// The shard this node carries, if any.
    pub fn held(&self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<&Custody> {
        self.held.get(&(*wanderer_id, shard_index))
    }

    pub fn held_shards(&self) -> impl Iterator<Item = &Custody> {
        self.held.values()
    }

    pub fn bytes_held(&self) -> u64 {
        self.held.values().map(Custody::shard_size).sum()
    }

    pub fn bytes_reserved(&self) -> u64 {
        self.reserved.values().map(|r| r.bytes).sum()
    }

    /// Drops the reservation of an inbound handoff that ended without custody.
    pub fn release(&mut self, record_hash: &[u8; 32]) {
        self.reserved.remove(record_hash);
    }

    /// The receiver signed its receipt: this node carries the shard now.
    pub fn take_custody(&mut self, custody: Custody) {
        let f = &custody.record.fields;
        self.reserved.remove(&custody.record.hash);
        self.note_seen(custody.wanderer_id(), f.shard_index, f.generation, f.hop);
        self.held
            .insert((custody.wanderer_id(), f.shard_index), custody);
    }

    /// The shard was handed on with `sent` (a valid receipt came back): forget it.
    pub fn handed_off(&mut self, sent: &Record) {
        let f = &sent.fields;
        let wid = key32(&f.wanderer_id);
        self.held.remove(&(wid, f.shard_index));
        self.note_seen(wid, f.shard_index, f.generation, f.hop);
    }

    /// Forgets a held shard without a handoff (a panic wipe, spec §12).
    pub fn drop_shard(&mut self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<Custody> {
        self.held.remove(&(*wanderer_id, shard_index))
    }
}

impl Admission for CarrierBook {
    fn retried_receipt(&self, record: &Record) -> Option<Receipt> {
        let f = &record.fields;
        self.held(&key32(&f.wanderer_id), f.shard_index)
            .filter(|c| c.record.hash == record.hash)
            .map(|c| c.receipt.clone())
    }

    fn admit(&mut self, offer: &DecodedOffer) -> Result<()> {
        let r = &offer.record.fields;
        let wid = key32(&r.wanderer_id);
        let size = offer.manifest.fields.shard_size;
        if let Some(seen) = self.seen(&wid, r.shard_index) {
            if seen >= (r.generation, r.hop) {
                return Err(fail(
                    RejectCode::StaleHop,
                    format!(
                        "already saw this shard at generation {} hop {}",
                        seen.0, seen.1
                    ),
                ));
            }
        }
        if self.shutting_down {
            return Err(fail(RejectCode::ShuttingDown, "this node is shutting down"));
        }
        if self.reserved.len() >= self.config.max_inbound {
            return Err(fail(
                RejectCode::Busy,
                "too many inbound handoffs; retry soon",
            ));
        }
        if self.bytes_held() + self.bytes_reserved() + size > self.config.capacity {
            return Err(fail(RejectCode::Capacity, "no room for this shard"));
        }
        let sibling = self.held.keys().any(|(w, _)| *w == wid)
            || self.reserved.values().any(|r| r.wanderer_id == wid);
        if sibling {
            return Err(fail(
                RejectCode::SiblingHeld,
                "this node carries a shard of this wanderer",
            ));
        }
        self.reserved.insert(
            offer.record.hash,
            Reservation {
                wanderer_id: wid,
                bytes: size,
            },
        );
        Ok(())
    }
}
