//! The challenger's side of one `/wdp/audit/1.0` stream (spec §18.5, §18.6).
//!
//! States IDLE, CHALLENGED; terminal DONE and FAILED. The challenger holds
//! the wanderer's version 2 manifest; `AUDIT_RESPONSE_TIMEOUT` runs from the
//! challenge to the answer. A failed check ends the audit: the challenger
//! sends Reject(that code) and resets the stream.

use std::collections::VecDeque;

use super::checks::{check_moved, check_proof};
use super::{challenge_frame, decode_audit, reject_frame, AuditMsg};
use crate::custody::Link;
use crate::error::{fail, Result, WdpError};
use crate::framing::FrameDecoder;
use crate::limits::AUDIT_RESPONSE_TIMEOUT_MS;
use crate::objects::{is_auditable, AuditChallenge, Manifest, Record};
use crate::proto::RejectCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengerState {
    Idle,
    Challenged,
    Done,
    Failed,
}

/// What an answered audit showed.
#[derive(Clone, Debug, PartialEq)]
pub enum AuditVerdict {
    /// The carrier proved it holds the shard under `record` (P1-P4 passed).
    Proved { record: Box<Record> },
    /// The carrier handed the shard on by this hop (M1-M3 passed); audit
    /// the next carrier (`link.record.to_peer`).
    Moved { link: Box<Link> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChallengerOutput {
    Send(Vec<u8>),
    Verdict(AuditVerdict),
    /// Close the stream; `reset` after our own Reject.
    Close {
        reset: bool,
    },
}

/// The challenger's side of one audit stream (§18.5).
pub struct AuditChallenger {
    challenge: AuditChallenge,
    manifest: Manifest,
    state: ChallengerState,
    deadline: Option<u64>,
    decoder: FrameDecoder,
    out: VecDeque<ChallengerOutput>,
    verdict: Option<AuditVerdict>,
    error: Option<(WdpError, bool)>,
}

impl AuditChallenger {
    /// An audit of the shard `challenge` names, with the wanderer's
    /// `manifest`; `UNSUPPORTED_VERSION` unless it is version 2, `BAD_MANIFEST`
    /// if it is another wanderer's.
    pub fn new(challenge: AuditChallenge, manifest: Manifest) -> Result<Self> {
        if !is_auditable(&manifest) {
            return Err(fail(
                RejectCode::UnsupportedVersion,
                "a version 1 wanderer cannot be audited",
            ));
        }
        if manifest.fields.wanderer_id != challenge.fields.wanderer_id {
            return Err(fail(
                RejectCode::BadManifest,
                "the manifest is not the challenged wanderer's",
            ));
        }
        Ok(AuditChallenger {
            challenge,
            manifest,
            state: ChallengerState::Idle,
            deadline: None,
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            verdict: None,
            error: None,
        })
    }

    pub fn state(&self) -> ChallengerState {
        self.state
    }
    /// The failure code and whether the carrier sent it.
    pub fn failure(&self) -> Option<&(WdpError, bool)> {
        self.error.as_ref()
    }
    pub fn verdict(&self) -> Option<&AuditVerdict> {
        self.verdict.as_ref()
    }
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }
    pub fn poll_output(&mut self) -> Option<ChallengerOutput> {
        self.out.pop_front()
    }
    pub fn is_terminal(&self) -> bool {
        matches!(self.state, ChallengerState::Done | ChallengerState::Failed)
    }

    /// Sends the challenge and arms `AUDIT_RESPONSE_TIMEOUT`.
    pub fn start(&mut self, now_ms: u64) {
        if self.state == ChallengerState::Idle {
            self.out
                .push_back(ChallengerOutput::Send(challenge_frame(&self.challenge)));
            self.state = ChallengerState::Challenged;
            self.deadline = Some(now_ms + AUDIT_RESPONSE_TIMEOUT_MS);
        }
    }

    pub fn feed(&mut self, now_ms: u64, bytes: &[u8]) {
        if self.is_terminal() {
            return;
        }
        self.decoder.push(bytes);
        while !self.is_terminal() {
            match self.decoder.next_payload() {
                Ok(Some(p)) => self.handle_payload(now_ms, &p),
                Ok(None) => break,
                Err(e) => self.refuse(e),
            }
        }
    }

    pub fn handle_payload(&mut self, _now_ms: u64, payload: &[u8]) {
        if self.is_terminal() || self.state == ChallengerState::Idle {
            return;
        }
        let msg = match decode_audit(payload) {
            Ok(m) => m,
            Err(e) => return self.refuse(e),
        };
        match msg {
            AuditMsg::Proof { record, leaf, path } => {
                match check_proof(&self.challenge, &self.manifest, &record, &leaf, &path) {
                    Ok(()) => self.conclude(AuditVerdict::Proved { record }),
                    Err(e) => self.refuse(e),
                }
            }
            AuditMsg::Moved(link) => match check_moved(&self.challenge, &self.manifest, &link) {
                Ok(()) => self.conclude(AuditVerdict::Moved { link }),
                Err(e) => self.refuse(e),
            },
            AuditMsg::Reject { code, detail } => {
                self.error = Some((fail(code, detail), true));
                self.out.push_back(ChallengerOutput::Close { reset: false });
                self.state = ChallengerState::Failed;
                self.deadline = None;
            }
            other => self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("{} not allowed in {:?}", other.kind_name(), self.state),
            )),
        }
    }

    pub fn handle_timer(&mut self, now_ms: u64) {
        if matches!(self.deadline, Some(d) if now_ms >= d) && !self.is_terminal() {
            self.refuse(fail(
                RejectCode::Timeout,
                "the carrier did not answer in time",
            ));
        }
    }

    /// Reset or EOF before an answer (reported locally as TIMEOUT).
    pub fn stream_lost(&mut self) {
        if !self.is_terminal() {
            self.error = Some((fail(RejectCode::Timeout, "stream lost"), false));
            self.state = ChallengerState::Failed;
            self.deadline = None;
        }
    }

    fn conclude(&mut self, verdict: AuditVerdict) {
        self.verdict = Some(verdict.clone());
        self.out.push_back(ChallengerOutput::Verdict(verdict));
        self.out.push_back(ChallengerOutput::Close { reset: false });
        self.state = ChallengerState::Done;
        self.deadline = None;
    }

    fn refuse(&mut self, e: WdpError) {
        self.out
            .push_back(ChallengerOutput::Send(reject_frame(e.code, &e.detail)));
        self.out.push_back(ChallengerOutput::Close { reset: true });
        self.error = Some((e, false));
        self.state = ChallengerState::Failed;
        self.deadline = None;
    }
}
