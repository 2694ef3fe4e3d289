//! The receiver side of `/wdp/migrate/1.0` (spec §6.6, §6.7, §6.8, §7), sans-IO.
//! A version 2 shard must also have its manifest's Merkle root (§6.7 rule 6).
//!
//! The driver pushes the bytes it reads with [`Receiver::feed`], drains
//! [`Receiver::poll_output`] (frames to write, a verified shard to store,
//! custody taken, reservation released, close), reports the store result with
//! [`Receiver::store_finished`], and calls [`Receiver::handle_timer`] when
//! `now ≥` [`Receiver::next_deadline`]. Times are Unix milliseconds.

use std::collections::VecDeque;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::carrier::{Admission, Custody};
use crate::custody::{check_custody, extend_chain, DecodedOffer};
use crate::error::{fail, WdpError};
use crate::framing::FrameDecoder;
use crate::limits::*;
use crate::merkle;
use crate::messages::{self, decode_migrate, Msg};
use crate::objects::{shard_root, sign_body, Receipt};
use crate::proto::{ReceiptBody, RejectCode};
use crate::signing::DOMAIN_RECEIPT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiverState {
    AwaitOffer,
    Receiving,
    Storing,
    AwaitDone,
    /// Terminal: this node is the carrier (or answered a retried offer).
    Closed,
    /// Terminal: this node holds nothing.
    Rejected,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverOutput {
    /// Write these frame bytes to the stream.
    Send(Vec<u8>),
    /// Store these verified shard bytes durably, then call `store_finished`.
    Store {
        record_hash: [u8; 32],
        shard: Vec<u8>,
    },
    /// The receipt is sent: this node carries the shard now (spec §6.10:
    /// record it, publish the locator, schedule the next hop).
    Custody(Box<Custody>),
    /// The handoff ended without custody: release the stage-D reservation.
    Release { record_hash: [u8; 32] },
    /// A store finished after the handoff was aborted: delete that copy.
    DeleteStored { record_hash: [u8; 32] },
    /// Close the stream (after writing what is queued).
    Close,
}

/// How the handoff ended, for logs and back-off.
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverOutcome {
    /// Custody taken (or a retried offer answered with the stored receipt).
    Carrier { retried: bool },
    /// Refused by us with `error` (sent), or ended by the peer's Reject / stream loss.
    Rejected { error: WdpError, sent: bool },
    /// AWAIT_DONE ended without a valid Done: still the carrier.
    ClosedWithoutDone,
}

pub struct Receiver {
    key: SigningKey,
    local_key: [u8; 32],
    remote_key: Option<[u8; 32]>,
    state: ReceiverState,
    deadline: Option<u64>,
    decoder: FrameDecoder,
    out: VecDeque<ReceiverOutput>,
    offer: Option<Box<DecodedOffer>>,
    admitted: bool,
    received: Vec<u8>,
    hasher: Sha256,
    outcome: Option<ReceiverOutcome>,
}

impl Receiver {
    /// A stream was accepted at `now_ms` from the authenticated peer whose
    /// Ed25519 key is `remote_key` (`None` if its PeerId is not one).
    pub fn new(key: SigningKey, remote_key: Option<[u8; 32]>, now_ms: u64) -> Self {
        Receiver {
            local_key: key.verifying_key().to_bytes(),
            key,
            remote_key,
            state: ReceiverState::AwaitOffer,
            deadline: Some(now_ms + OFFER_TIMEOUT_MS),
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            offer: None,
            admitted: false,
            received: Vec::new(),
            hasher: Sha256::new(),
            outcome: None,
        }
    }

    pub fn state(&self) -> ReceiverState {
        self.state
    }

    pub fn outcome(&self) -> Option<&ReceiverOutcome> {
        self.outcome.as_ref()
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.state, ReceiverState::Closed | ReceiverState::Rejected)
    }

    /// The offer being handled, once it passed stages A and B.
    pub fn offer(&self) -> Option<&DecodedOffer> {
        self.offer.as_deref()
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }

    pub fn poll_output(&mut self) -> Option<ReceiverOutput> {
        self.out.pop_front()
    }

    /// Bytes read from the stream.
    pub fn feed(&mut self, now_ms: u64, bytes: &[u8], admission: &mut dyn Admission) {
        if self.is_terminal() {
            return;
        }
        self.decoder.push(bytes);
        while !self.is_terminal() {
            match self.decoder.next_payload() {
                Ok(Some(payload)) => self.handle_payload(now_ms, &payload, admission),
                Ok(None) => break,
                Err(e) => self.check_failed(e),
            }
        }
    }

    /// One whole frame payload (for drivers that do their own framing).
    pub fn handle_payload(&mut self, now_ms: u64, payload: &[u8], admission: &mut dyn Admission) {
        if self.is_terminal() {
            return;
        }
        let msg = match decode_migrate(payload) {
            Ok(msg) => msg,
            Err(e) => return self.check_failed(e),
        };
        use ReceiverState as S;
        match (self.state, msg) {
            (S::AwaitOffer, Msg::Offer(offer)) => self.on_offer(now_ms, offer, admission),
            (S::Receiving, Msg::Data { offset, chunk }) => self.on_data(now_ms, offset, &chunk),
            (S::Receiving | S::Storing, Msg::Reject { code, detail }) => {
                self.enter_rejected(fail(code, detail), false);
                self.out.push_back(ReceiverOutput::Close);
            }
            (S::AwaitDone, Msg::Done { record_hash }) => {
                let ok = self.offer.as_ref().map(|o| o.record.hash) == Some(record_hash);
                self.close_as_carrier(ok);
            }
            (S::AwaitDone, _) => self.close_as_carrier(false),
            (_, msg) => self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("{} not allowed in {:?}", msg.kind_name(), self.state),
            )),
        }
    }

    fn on_offer(&mut self, now_ms: u64, offer: Box<DecodedOffer>, admission: &mut dyn Admission) {
        if let Err(e) = check_custody(&offer, &self.local_key, self.remote_key.as_ref()) {
            return self.refuse(e);
        }
        if let Some(receipt) = admission.retried_receipt(&offer.record) {
            // Stage C: the retried offer of the record that made us the carrier.
            self.out
                .push_back(ReceiverOutput::Send(messages::receipt_frame(&receipt)));
            self.offer = Some(offer);
            self.state = ReceiverState::AwaitDone;
            self.deadline = Some(now_ms + DONE_TIMEOUT_MS);
            self.outcome = Some(ReceiverOutcome::Carrier { retried: true });
            return;
        }
        if let Err(e) = admission.admit(&offer) {
            return self.refuse(e);
        }
        self.admitted = true;
        self.received = Vec::with_capacity(offer.manifest.fields.shard_size as usize);
        self.out
            .push_back(ReceiverOutput::Send(messages::accept_frame(
                &offer.record.hash,
            )));
        self.offer = Some(offer);
        self.state = ReceiverState::Receiving;
        self.deadline = Some(now_ms + DATA_IDLE_TIMEOUT_MS);
    }

    fn on_data(&mut self, now_ms: u64, offset: u64, chunk: &[u8]) {
        let offer = self.offer.as_ref().expect("RECEIVING has an offer");
        let shard_size = offer.manifest.fields.shard_size;
        let so_far = self.received.len() as u64;
        if offset != so_far {
            return self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("data offset {offset}, expected {so_far}"),
            ));
        }
        if so_far + chunk.len() as u64 > shard_size {
            return self.refuse(fail(RejectCode::TooLarge, "data goes past shard_size"));
        }
        self.hasher.update(chunk);
        self.received.extend_from_slice(chunk);
        if (self.received.len() as u64) < shard_size {
            self.deadline = Some(now_ms + DATA_IDLE_TIMEOUT_MS);
            return;
        }
        let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if digest.as_slice() != offer.record.fields.shard_hash.as_slice() {
            return self.refuse(fail(
                RejectCode::ShardHashMismatch,
                "the data does not hash to the record's shard_hash",
            ));
        }
        // Version 2: the Merkle root must be the signed one, or the shard
        // could never pass an audit (spec §6.7 rule 6).
        if let Some(expected) = shard_root(&offer.manifest, offer.record.fields.shard_index) {
            if merkle::root(&self.received) != expected {
                return self.refuse(fail(
                    RejectCode::ShardHashMismatch,
                    "the shard does not have the manifest's Merkle root",
                ));
            }
        }
        let record_hash = offer.record.hash;
        let shard = std::mem::take(&mut self.received);
        self.out
            .push_back(ReceiverOutput::Store { record_hash, shard });
        self.state = ReceiverState::Storing;
        self.deadline = Some(now_ms + STORE_TIMEOUT_MS);
    }

    /// The driver finished storing the shard (`stored` = durably on disk).
    pub fn store_finished(&mut self, now_ms: u64, stored: bool) {
        let Some(offer) = self.offer.clone() else {
            return;
        };
        match self.state {
            ReceiverState::Storing if stored => {
                let receipt = self.sign_receipt(&offer, now_ms);
                self.out
                    .push_back(ReceiverOutput::Send(messages::receipt_frame(&receipt)));
                self.out
                    .push_back(ReceiverOutput::Custody(Box::new(Custody {
                        chain: extend_chain(&offer.chain, &offer.record, &receipt),
                        manifest: offer.manifest.clone(),
                        record: offer.record.clone(),
                        receipt,
                        locator_secret: offer.locator_secret,
                    })));
                self.state = ReceiverState::AwaitDone;
                self.deadline = Some(now_ms + DONE_TIMEOUT_MS);
                self.outcome = Some(ReceiverOutcome::Carrier { retried: false });
            }
            ReceiverState::Storing => {
                self.refuse(fail(RejectCode::Capacity, "storing the shard failed"));
            }
            ReceiverState::Rejected if stored && self.admitted => {
                self.out.push_back(ReceiverOutput::DeleteStored {
                    record_hash: offer.record.hash,
                });
            }
            _ => {}
        }
    }

    fn sign_receipt(&self, offer: &DecodedOffer, now_ms: u64) -> Receipt {
        let body = ReceiptBody {
            version: PROTOCOL_VERSION,
            record_hash: offer.record.hash.to_vec(),
            receiver: self.local_key.to_vec(),
            shard_hash: offer.record.fields.shard_hash.clone(),
            time_ms: now_ms,
        };
        sign_body(&body, DOMAIN_RECEIPT, &self.key)
    }

    /// Call when `now_ms ≥ next_deadline()`.
    pub fn handle_timer(&mut self, now_ms: u64) {
        match self.deadline {
            Some(d) if now_ms >= d && !self.is_terminal() => {}
            _ => return,
        }
        if self.state == ReceiverState::AwaitDone {
            self.close_as_carrier(false);
        } else {
            self.refuse(fail(
                RejectCode::Timeout,
                format!("timer expired in {:?}", self.state),
            ));
        }
    }

    /// The stream was reset or hit EOF.
    pub fn stream_lost(&mut self) {
        if self.is_terminal() {
            return;
        }
        if self.state == ReceiverState::AwaitDone {
            self.close_as_carrier(false);
        } else {
            self.enter_rejected(fail(RejectCode::Timeout, "stream lost"), false);
        }
    }

    fn check_failed(&mut self, e: WdpError) {
        if self.state == ReceiverState::AwaitDone {
            self.close_as_carrier(false);
        } else {
            self.refuse(e);
        }
    }

    /// Sends Reject(code), closes, enters REJECTED.
    fn refuse(&mut self, e: WdpError) {
        self.out
            .push_back(ReceiverOutput::Send(messages::reject_frame(
                e.code, &e.detail,
            )));
        self.out.push_back(ReceiverOutput::Close);
        self.enter_rejected(e, true);
    }

    fn enter_rejected(&mut self, error: WdpError, sent: bool) {
        if self.admitted {
            if let Some(o) = &self.offer {
                self.out.push_back(ReceiverOutput::Release {
                    record_hash: o.record.hash,
                });
            }
        }
        self.received = Vec::new();
        self.state = ReceiverState::Rejected;
        self.deadline = None;
        self.outcome = Some(ReceiverOutcome::Rejected { error, sent });
    }

    fn close_as_carrier(&mut self, done_ok: bool) {
        self.out.push_back(ReceiverOutput::Close);
        self.state = ReceiverState::Closed;
        self.deadline = None;
        if !done_ok {
            if let Some(ReceiverOutcome::Carrier { retried: false }) = self.outcome {
                self.outcome = Some(ReceiverOutcome::ClosedWithoutDone);
            }
        }
    }
}
