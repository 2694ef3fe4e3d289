//! The sender side of `/wdp/migrate/1.0` (spec §6.5, §6.7, §6.8, §6.9), sans-IO.
//!
//! Build the offer (see [`crate::custody::sign_next_record`] and
//! [`crate::custody::make_offer`]), create a [`Sender`] with the shard bytes,
//! call [`Sender::start`], then push the bytes read with [`Sender::feed`] and
//! drain [`Sender::poll_output`]: frames to write (Data frames are produced
//! lazily, one per `poll_output`), [`SenderOutput::Wipe`] once a valid receipt
//! arrived (custody passed: only then may the shard be wiped), and Close.

use std::collections::VecDeque;

use crate::custody::DecodedOffer;
use crate::error::{fail, Result, WdpError};
use crate::framing::FrameDecoder;
use crate::limits::*;
use crate::messages::{self, decode_migrate, Msg};
use crate::objects::Receipt;
use crate::proto::RejectCode;
use crate::signing::{sha256, DOMAIN_RECEIPT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderState {
    Idle,
    Offered,
    AwaitReceipt,
    /// Terminal: custody passed, the shard may be wiped.
    Done,
    /// Terminal: the sender keeps the shard.
    Failed,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SenderOutput {
    /// Write these frame bytes to the stream.
    Send(Vec<u8>),
    /// A receipt passed spec §6.8: custody passed, wipe the shard now
    /// (spec §6.10: forget manifest, chain and locator secret; stop
    /// republishing the locator; record the hop as seen).
    Wipe { receipt: Box<Receipt> },
    /// Close the stream (after writing what is queued).
    Close,
}

pub struct Sender {
    offer: DecodedOffer,
    shard: Vec<u8>,
    chunk_size: usize,
    state: SenderState,
    deadline: Option<u64>,
    decoder: FrameDecoder,
    out: VecDeque<SenderOutput>,
    /// Next Data offset to send while AWAIT_RECEIPT.
    data_cursor: Option<usize>,
    error: Option<(WdpError, bool)>,
}

impl Sender {
    /// `shard` must hash to the record's `shard_hash` and be `shard_size`
    /// bytes; `chunk_size` (1..=1 MiB) is the Data size (the reference uses 1 MiB).
    pub fn new(offer: DecodedOffer, shard: Vec<u8>, chunk_size: usize) -> Result<Self> {
        if !(1..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(fail(
                RejectCode::Malformed,
                "chunk size outside 1..=1048576",
            ));
        }
        if shard.len() as u64 != offer.manifest.fields.shard_size
            || sha256(&shard).as_slice() != offer.record.fields.shard_hash.as_slice()
        {
            return Err(fail(
                RejectCode::ShardHashMismatch,
                "the shard bytes do not match the record",
            ));
        }
        Ok(Self::new_unverified(offer, shard, chunk_size))
    }

    /// As [`Sender::new`] without checking the shard bytes: only for tests
    /// that play a sender sending a damaged shard.
    #[doc(hidden)]
    pub fn new_unverified(offer: DecodedOffer, shard: Vec<u8>, chunk_size: usize) -> Self {
        Sender {
            offer,
            shard,
            chunk_size: chunk_size.clamp(1, MAX_CHUNK_SIZE),
            state: SenderState::Idle,
            deadline: None,
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            data_cursor: None,
            error: None,
        }
    }

    pub fn offer(&self) -> &DecodedOffer {
        &self.offer
    }

    pub fn state(&self) -> SenderState {
        self.state
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.state, SenderState::Done | SenderState::Failed)
    }

    /// Why the handoff failed, and whether the peer sent that code (`true`) or
    /// we detected it (`false`; stream loss is reported as TIMEOUT).
    pub fn failure(&self) -> Option<&(WdpError, bool)> {
        self.error.as_ref()
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }

    /// IDLE → OFFERED: sends the Offer.
    pub fn start(&mut self, now_ms: u64) {
        if self.state != SenderState::Idle {
            return;
        }
        self.out
            .push_back(SenderOutput::Send(messages::offer_frame(&self.offer)));
        self.state = SenderState::Offered;
        self.deadline = Some(now_ms + OFFER_TIMEOUT_MS);
    }

    pub fn poll_output(&mut self) -> Option<SenderOutput> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        let cursor = self.data_cursor?;
        if self.state != SenderState::AwaitReceipt || cursor >= self.shard.len() {
            self.data_cursor = None;
            return None;
        }
        let end = (cursor + self.chunk_size).min(self.shard.len());
        self.data_cursor = Some(end);
        Some(SenderOutput::Send(messages::data_frame(
            cursor as u64,
            &self.shard[cursor..end],
        )))
    }

    /// Bytes read from the stream.
    pub fn feed(&mut self, now_ms: u64, bytes: &[u8]) {
        if self.is_terminal() {
            return;
        }
        self.decoder.push(bytes);
        while !self.is_terminal() {
            match self.decoder.next_payload() {
                Ok(Some(payload)) => self.handle_payload(now_ms, &payload),
                Ok(None) => break,
                Err(e) => self.refuse(e),
            }
        }
    }

    /// One whole frame payload.
    pub fn handle_payload(&mut self, now_ms: u64, payload: &[u8]) {
        if self.is_terminal() || self.state == SenderState::Idle {
            return;
        }
        let msg = match decode_migrate(payload) {
            Ok(m) => m,
            Err(e) => return self.refuse(e),
        };
        use SenderState as S;
        match (self.state, msg) {
            (S::Offered, Msg::Accept { record_hash }) => {
                if record_hash != self.offer.record.hash {
                    return self.refuse(fail(
                        RejectCode::ProtocolViolation,
                        "accept for another record",
                    ));
                }
                self.state = S::AwaitReceipt;
                self.deadline =
                    Some(now_ms + receipt_deadline_ms(self.offer.manifest.fields.shard_size));
                self.data_cursor = Some(0);
            }
            (S::Offered | S::AwaitReceipt, Msg::Receipt(receipt)) => {
                if let Err(e) = self.check_receipt(&receipt) {
                    return self.refuse(e);
                }
                self.out.push_back(SenderOutput::Wipe { receipt });
                self.out.push_back(SenderOutput::Send(messages::done_frame(
                    &self.offer.record.hash,
                )));
                self.out.push_back(SenderOutput::Close);
                self.finish(S::Done);
            }
            (_, Msg::Reject { code, detail }) => {
                self.error = Some((fail(code, detail), true));
                self.out.push_back(SenderOutput::Close);
                self.finish(S::Failed);
            }
            (_, msg) => self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("{} not allowed in {:?}", msg.kind_name(), self.state),
            )),
        }
    }

    /// Spec §6.8 checks 1-3, each `BAD_RECEIPT`.
    fn check_receipt(&self, receipt: &Receipt) -> Result<()> {
        let rec = &self.offer.record;
        let p = &receipt.fields;
        if p.receiver != rec.fields.to_peer || p.record_hash != rec.hash {
            return Err(fail(
                RejectCode::BadReceipt,
                "receipt is not for our record and peer",
            ));
        }
        if p.shard_hash != rec.fields.shard_hash {
            return Err(fail(
                RejectCode::BadReceipt,
                "receipt shard_hash is not the record's",
            ));
        }
        if !receipt.verify(DOMAIN_RECEIPT, &rec.fields.to_peer) {
            return Err(fail(RejectCode::BadReceipt, "receipt signature is invalid"));
        }
        Ok(())
    }

    /// Call when `now_ms ≥ next_deadline()`.
    pub fn handle_timer(&mut self, now_ms: u64) {
        if let Some(d) = self.deadline {
            if now_ms >= d && !self.is_terminal() {
                self.refuse(fail(
                    RejectCode::Timeout,
                    format!("timer expired in {:?}", self.state),
                ));
            }
        }
    }

    /// The stream was reset or hit EOF: FAILED, nothing sent, reported as TIMEOUT.
    pub fn stream_lost(&mut self) {
        if !self.is_terminal() {
            self.error = Some((fail(RejectCode::Timeout, "stream lost"), false));
            self.finish(SenderState::Failed);
        }
    }

    fn refuse(&mut self, e: WdpError) {
        self.out
            .push_back(SenderOutput::Send(messages::reject_frame(
                e.code, &e.detail,
            )));
        self.out.push_back(SenderOutput::Close);
        self.error = Some((e, false));
        self.finish(SenderState::Failed);
    }

    fn finish(&mut self, state: SenderState) {
        self.state = state;
        self.deadline = None;
        self.data_cursor = None;
    }
}
