//! The hops a carrier remembers after handing a shard on, to answer an
//! audit with **moved** (spec §18.4 A8, §12 `handed_on_epochs`).
//!
//! With each hop it keeps the peer that had handed this node the shard: that
//! peer may audit it without the owner's grant (the spot audit, §18.4 A3).
//!
//! A carrier MAY forget a handed-on hop; this one keeps each for
//! `HANDED_ON_EPOCHS` (2) epochs of the shard's manifest, at most a day, and at
//! most `HANDED_ON_MEMORY` (100000) hops, forgetting those closest to expiry
//! first when full. In memory only.

use std::collections::HashMap;

use crate::custody::{key32, Link};
use crate::limits::{HANDED_ON_EPOCHS, HANDED_ON_MEMORY, MAX_HANDED_ON_MS};

type ShardKey = ([u8; 32], u32);

/// How long a hop of a shard whose manifest has `epoch_seconds` is kept.
pub fn handed_on_lifetime_ms(epoch_seconds: u32) -> u64 {
    (u64::from(epoch_seconds) * 1000 * HANDED_ON_EPOCHS).min(MAX_HANDED_ON_MS)
}

/// Handed-on hops, one per shard (the latest), each with its expiry.
#[derive(Debug)]
pub struct HandedOn {
    capacity: usize,
    hops: HashMap<ShardKey, (Link, [u8; 32], u64)>,
}

impl Default for HandedOn {
    fn default() -> Self {
        HandedOn::new(HANDED_ON_MEMORY)
    }
}

impl HandedOn {
    pub fn new(capacity: usize) -> Self {
        HandedOn {
            capacity: capacity.max(1),
            hops: HashMap::new(),
        }
    }

    /// Remembers `link` (the record this node signed and the next carrier's
    /// receipt), and `received_from` (the `from_peer` of the record that had
    /// brought the shard here), until `now_ms + lifetime_ms` inclusive. A later hop of the
    /// same shard (by `(generation, hop)`) replaces an earlier one; an
    /// earlier one never replaces a later one.
    pub fn remember(&mut self, link: Link, received_from: [u8; 32], lifetime_ms: u64, now_ms: u64) {
        self.hops.retain(|_, (_, _, e)| *e >= now_ms);
        let f = &link.record.fields;
        let key = (key32(&f.wanderer_id), f.shard_index);
        if let Some((old, _, _)) = self.hops.get(&key) {
            let o = &old.record.fields;
            if (o.generation, o.hop) > (f.generation, f.hop) {
                return;
            }
        } else {
            while self.hops.len() >= self.capacity {
                let Some(soonest) = self
                    .hops
                    .iter()
                    .min_by_key(|(_, (_, _, e))| *e)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                self.hops.remove(&soonest);
            }
        }
        self.hops.insert(
            key,
            (link, received_from, now_ms.saturating_add(lifetime_ms)),
        );
    }

    /// The hop by which this node handed (`wanderer_id`, `shard_index`) on,
    /// if it still remembers it at `now_ms`.
    pub fn get(&self, wanderer_id: &[u8; 32], shard_index: u32, now_ms: u64) -> Option<&Link> {
        self.hops
            .get(&(*wanderer_id, shard_index))
            .filter(|(_, _, e)| *e >= now_ms)
            .map(|(l, _, _)| l)
    }

    /// The peer that had handed this node (`wanderer_id`, `shard_index`)
    /// before it handed the shard on, if it still remembers that hop.
    pub fn received_from(
        &self,
        wanderer_id: &[u8; 32],
        shard_index: u32,
        now_ms: u64,
    ) -> Option<[u8; 32]> {
        self.hops
            .get(&(*wanderer_id, shard_index))
            .filter(|(_, _, e)| *e >= now_ms)
            .map(|(_, from, _)| *from)
    }

    /// Forgets the hop of a shard (for example once it came back here).
    pub fn forget(&mut self, wanderer_id: &[u8; 32], shard_index: u32) {
        self.hops.remove(&(*wanderer_id, shard_index));
    }

    pub fn len(&self) -> usize {
        self.hops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }
}
