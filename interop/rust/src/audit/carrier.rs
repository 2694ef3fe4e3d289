//! The carrier's side of one `/wdp/audit/1.0` stream (spec §18.4, §18.6).
//!
//! States AWAIT_CHALLENGE, LOADING; terminal DONE and REJECTED. A challenge
//! that passes A1-A10 asks the driver to read the shard ([`AuditCarrierOutput::Load`],
//! then [`AuditCarrier::loaded`]); a moved answer at A8 ends the stream at
//! once; anything else as the fetch carrier's table (§15.5).

use std::collections::VecDeque;

use super::checks::{check_challenge, make_proof, AuditTarget, MovedLookup};
use super::{decode_audit, moved_frame, proof_frame, reject_frame, AuditMsg};
use crate::error::{fail, WdpError};
use crate::fetch::checks::{Holdings, NonceCache};
use crate::framing::FrameDecoder;
use crate::limits::{AUDIT_LOAD_TIMEOUT_MS, AUDIT_REQUEST_TIMEOUT_MS};
use crate::objects::{Manifest, Record};
use crate::proto::RejectCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditCarrierState {
    AwaitChallenge,
    Loading,
    Done,
    Rejected,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AuditCarrierOutput {
    Send(Vec<u8>),
    /// Read the shard (`record.shard_index` of that manifest) and call
    /// [`AuditCarrier::loaded`].
    Load {
        manifest: Box<Manifest>,
        record: Box<Record>,
    },
    Close,
}

/// How a stream ended that answered (for the driver's events).
#[derive(Clone, Debug, PartialEq)]
pub enum AuditAnswer {
    /// A proof of `leaf_index` under `record`.
    Proof {
        record: Box<Record>,
        leaf_index: u32,
    },
    /// A moved with the hop this node handed the shard on by.
    Moved { record: Box<Record> },
}

/// The carrier's side of one audit stream (§18.4).
pub struct AuditCarrier {
    local_key: [u8; 32],
    state: AuditCarrierState,
    deadline: Option<u64>,
    decoder: FrameDecoder,
    out: VecDeque<AuditCarrierOutput>,
    proving: Option<(Manifest, Record, u32)>,
    answer: Option<AuditAnswer>,
    challenged: Option<(u32, u32)>,
    error: Option<WdpError>,
    lost: bool,
}

impl AuditCarrier {
    /// A stream was accepted at `now_ms` (arms `AUDIT_REQUEST_TIMEOUT`).
    pub fn new(local_key: [u8; 32], now_ms: u64) -> Self {
        AuditCarrier {
            local_key,
            state: AuditCarrierState::AwaitChallenge,
            deadline: Some(now_ms + AUDIT_REQUEST_TIMEOUT_MS),
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            proving: None,
            answer: None,
            challenged: None,
            error: None,
            lost: false,
        }
    }

    pub fn state(&self) -> AuditCarrierState {
        self.state
    }
    /// Why the stream was refused (or lost), if it was.
    pub fn error(&self) -> Option<&WdpError> {
        self.error.as_ref()
    }
    /// True if the stream was lost before an answer (nothing was sent).
    pub fn was_lost(&self) -> bool {
        self.lost
    }
    /// What this node answered, once DONE.
    pub fn answer(&self) -> Option<&AuditAnswer> {
        self.answer.as_ref()
    }
    /// The challenged `(shard_index, leaf_index)`, once a challenge decoded.
    pub fn challenged(&self) -> Option<(u32, u32)> {
        self.challenged
    }
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }
    pub fn poll_output(&mut self) -> Option<AuditCarrierOutput> {
        self.out.pop_front()
    }
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state,
            AuditCarrierState::Done | AuditCarrierState::Rejected
        )
    }

    /// Bytes read from the stream.
    pub fn feed(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        nonces: &mut NonceCache,
        holdings: &dyn Holdings,
        handed_on: &dyn MovedLookup,
    ) {
        if self.is_terminal() {
            return;
        }
        self.decoder.push(bytes);
        while !self.is_terminal() {
            match self.decoder.next_payload() {
                Ok(Some(p)) => self.handle_payload(now_ms, &p, nonces, holdings, handed_on),
                Ok(None) => break,
                Err(e) => self.refuse(e),
            }
        }
    }

    /// One frame payload.
    pub fn handle_payload(
        &mut self,
        now_ms: u64,
        payload: &[u8],
        nonces: &mut NonceCache,
        holdings: &dyn Holdings,
        handed_on: &dyn MovedLookup,
    ) {
        if self.is_terminal() {
            return;
        }
        let msg = match decode_audit(payload) {
            Ok(m) => m,
            Err(e) => return self.refuse(e),
        };
        match (self.state, msg) {
            (AuditCarrierState::AwaitChallenge, AuditMsg::Challenge(ch)) => {
                self.challenged = Some((ch.fields.shard_index, ch.fields.leaf_index));
                match check_challenge(&ch, &self.local_key, now_ms, nonces, holdings, handed_on) {
                    Ok(AuditTarget::Prove {
                        manifest,
                        record,
                        leaf_index,
                    }) => {
                        self.out.push_back(AuditCarrierOutput::Load {
                            manifest: manifest.clone(),
                            record: record.clone(),
                        });
                        self.proving = Some((*manifest, *record, leaf_index));
                        self.state = AuditCarrierState::Loading;
                        self.deadline = Some(now_ms + AUDIT_LOAD_TIMEOUT_MS);
                    }
                    Ok(AuditTarget::Moved(link)) => {
                        self.out
                            .push_back(AuditCarrierOutput::Send(moved_frame(&link)));
                        self.answer = Some(AuditAnswer::Moved {
                            record: Box::new(link.record),
                        });
                        self.finish(AuditCarrierState::Done);
                    }
                    Err(e) => self.refuse(e),
                }
            }
            (AuditCarrierState::Loading, AuditMsg::Reject { code, detail }) => {
                self.error = Some(fail(code, detail));
                self.finish(AuditCarrierState::Rejected);
            }
            (_, msg) => self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("{} not allowed in {:?}", msg.kind_name(), self.state),
            )),
        }
    }

    /// The shard bytes read from the store (`None` if gone): sends the
    /// proof if they are the shard, else NOT_HELD.
    pub fn loaded(&mut self, shard: Option<&[u8]>) {
        if self.state != AuditCarrierState::Loading {
            return;
        }
        let (manifest, record, leaf_index) = self.proving.take().expect("LOADING proves a leaf");
        let Some((leaf, path)) = shard.and_then(|s| make_proof(&manifest, &record, leaf_index, s))
        else {
            return self.refuse(fail(
                RejectCode::NotHeld,
                "this node's copy of the shard is gone",
            ));
        };
        self.out
            .push_back(AuditCarrierOutput::Send(proof_frame(&record, &leaf, &path)));
        self.answer = Some(AuditAnswer::Proof {
            record: Box::new(record),
            leaf_index,
        });
        self.finish(AuditCarrierState::Done);
    }

    pub fn handle_timer(&mut self, now_ms: u64) {
        if matches!(self.deadline, Some(d) if now_ms >= d) && !self.is_terminal() {
            self.refuse(fail(RejectCode::Timeout, "audit timer expired"));
        }
    }

    /// Reset or EOF before a terminal state: nothing is sent.
    pub fn stream_lost(&mut self) {
        if !self.is_terminal() {
            self.error = Some(fail(RejectCode::Timeout, "stream lost"));
            self.lost = true;
            self.state = AuditCarrierState::Rejected;
            self.deadline = None;
        }
    }

    fn refuse(&mut self, e: WdpError) {
        self.out
            .push_back(AuditCarrierOutput::Send(reject_frame(e.code, &e.detail)));
        self.error = Some(e);
        self.finish(AuditCarrierState::Rejected);
    }

    fn finish(&mut self, state: AuditCarrierState) {
        self.out.push_back(AuditCarrierOutput::Close);
        self.state = state;
        self.deadline = None;
    }
}
