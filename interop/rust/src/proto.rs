//! The `wdp.v1` wire messages (`protocols/wdp.proto`), as hand-written prost structs.
//!
//! Field numbers and types match `wdp.proto` exactly. prost writes fields in
//! field-number order and omits defaults (spec §1), so encodings reproduce the
//! vectors byte for byte. prost drops unknown fields on decode: that is why a
//! signed body is always kept as the received bytes (spec §2 rule 1), never
//! re-encoded from these structs.

use prost::{Enumeration, Message};

/// Every signed object on the wire (spec §2).
#[derive(Clone, PartialEq, Message)]
pub struct Signed {
    #[prost(bytes = "vec", tag = "1")]
    pub body: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enumeration)]
#[repr(i32)]
pub enum Cipher {
    Unspecified = 0,
    Chacha20Poly1305 = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enumeration)]
#[repr(i32)]
pub enum Reason {
    Unspecified = 0,
    Genesis = 1,
    Ttl = 2,
    Threat = 3,
    Drain = 4,
    Repair = 5,
}

/// `RejectCode` of `wdp.proto`; 19 and 20 belong to `/wdp/fetch/1.0` and
/// `/wdp/audit/1.0`, 21 to `/wdp/audit/1.0` only (spec §8, §14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enumeration)]
#[repr(i32)]
pub enum RejectCode {
    Unspecified = 0,
    Malformed = 1,
    TooLarge = 2,
    UnsupportedVersion = 3,
    BadManifest = 4,
    BadSignature = 5,
    BadChain = 6,
    StaleHop = 7,
    WrongRecipient = 8,
    WrongSender = 9,
    BadLocatorKey = 10,
    ShardHashMismatch = 11,
    Capacity = 12,
    SiblingHeld = 13,
    ShuttingDown = 14,
    Busy = 15,
    ProtocolViolation = 16,
    Timeout = 17,
    BadReceipt = 18,
    NotHeld = 19,
    Unauthorized = 20,
    BadProof = 21,
}

impl RejectCode {
    /// The `wdp.proto` name (`"BAD_CHAIN"`), as the vectors spell codes.
    pub fn name(self) -> &'static str {
        use RejectCode::*;
        match self {
            Unspecified => "REJECT_UNSPECIFIED",
            Malformed => "MALFORMED",
            TooLarge => "TOO_LARGE",
            UnsupportedVersion => "UNSUPPORTED_VERSION",
            BadManifest => "BAD_MANIFEST",
            BadSignature => "BAD_SIGNATURE",
            BadChain => "BAD_CHAIN",
            StaleHop => "STALE_HOP",
            WrongRecipient => "WRONG_RECIPIENT",
            WrongSender => "WRONG_SENDER",
            BadLocatorKey => "BAD_LOCATOR_KEY",
            ShardHashMismatch => "SHARD_HASH_MISMATCH",
            Capacity => "CAPACITY",
            SiblingHeld => "SIBLING_HELD",
            ShuttingDown => "SHUTTING_DOWN",
            Busy => "BUSY",
            ProtocolViolation => "PROTOCOL_VIOLATION",
            Timeout => "TIMEOUT",
            BadReceipt => "BAD_RECEIPT",
            NotHeld => "NOT_HELD",
            Unauthorized => "UNAUTHORIZED",
            BadProof => "BAD_PROOF",
        }
    }

    /// The code of a `wdp.proto` name, as the vectors spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        (0..=21)
            .filter_map(|v| RejectCode::try_from(v).ok())
            .find(|c| c.name() == name)
    }
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Unspecified => "REASON_UNSPECIFIED",
            Reason::Genesis => "GENESIS",
            Reason::Ttl => "TTL",
            Reason::Threat => "THREAT",
            Reason::Drain => "DRAIN",
            Reason::Repair => "REPAIR",
        }
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct ManifestBody {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub wanderer_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub owner_key: Vec<u8>,
    #[prost(enumeration = "Cipher", tag = "4")]
    pub cipher: i32,
    #[prost(bytes = "vec", tag = "5")]
    pub nonce: Vec<u8>,
    #[prost(uint64, tag = "6")]
    pub payload_size: u64,
    #[prost(uint32, tag = "7")]
    pub k: u32,
    #[prost(uint32, tag = "8")]
    pub n: u32,
    #[prost(uint64, tag = "9")]
    pub shard_size: u64,
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub shard_hashes: Vec<Vec<u8>>,
    #[prost(uint32, tag = "11")]
    pub epoch_seconds: u32,
    #[prost(uint64, tag = "12")]
    pub created_at_ms: u64,
    /// Version 2 only: the Ed25519 key of the repair seed (spec §4.1).
    #[prost(bytes = "vec", tag = "13")]
    pub repair_key: Vec<u8>,
    /// Version 2 only: the Merkle root of shard i at index i (spec §4.1).
    #[prost(bytes = "vec", repeated, tag = "14")]
    pub shard_roots: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CustodyRecordBody {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub wanderer_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub shard_index: u32,
    #[prost(uint32, tag = "4")]
    pub generation: u32,
    #[prost(uint64, tag = "5")]
    pub hop: u64,
    #[prost(bytes = "vec", tag = "6")]
    pub from_peer: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    pub to_peer: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    pub shard_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "9")]
    pub manifest_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub locator_key: Vec<u8>,
    #[prost(enumeration = "Reason", tag = "11")]
    pub reason: i32,
    #[prost(uint64, tag = "12")]
    pub time_ms: u64,
    #[prost(bytes = "vec", tag = "13")]
    pub prev_record_hash: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReceiptBody {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub record_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub receiver: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub shard_hash: Vec<u8>,
    #[prost(uint64, tag = "5")]
    pub time_ms: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct CustodyLink {
    #[prost(message, optional, tag = "1")]
    pub record: Option<Signed>,
    #[prost(message, optional, tag = "2")]
    pub receipt: Option<Signed>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LocatorBody {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(uint32, tag = "2")]
    pub generation: u32,
    #[prost(uint64, tag = "3")]
    pub hop: u64,
    #[prost(uint64, tag = "4")]
    pub expires_at_ms: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub sealed_holder: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct HolderInfo {
    #[prost(bytes = "vec", tag = "1")]
    pub holder: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub addrs: Vec<Vec<u8>>,
    #[prost(bytes = "vec", tag = "3")]
    pub record_hash: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Offer {
    #[prost(message, optional, tag = "1")]
    pub manifest: Option<Signed>,
    #[prost(message, repeated, tag = "2")]
    pub chain: Vec<CustodyLink>,
    #[prost(message, optional, tag = "3")]
    pub record: Option<Signed>,
    #[prost(bytes = "vec", tag = "4")]
    pub locator_secret: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Accept {
    #[prost(bytes = "vec", tag = "1")]
    pub record_hash: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Reject {
    #[prost(enumeration = "RejectCode", tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub detail: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Data {
    #[prost(uint64, tag = "1")]
    pub offset: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub chunk: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Receipt {
    #[prost(message, optional, tag = "1")]
    pub receipt: Option<Signed>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Done {
    #[prost(bytes = "vec", tag = "1")]
    pub record_hash: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MigrateMessage {
    #[prost(oneof = "migrate_message::Kind", tags = "1, 2, 3, 4, 5, 6")]
    pub kind: Option<migrate_message::Kind>,
}

pub mod migrate_message {
    use prost::Oneof;

    #[derive(Clone, PartialEq, Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Offer(super::Offer),
        #[prost(message, tag = "2")]
        Accept(super::Accept),
        #[prost(message, tag = "3")]
        Reject(super::Reject),
        #[prost(message, tag = "4")]
        Data(super::Data),
        #[prost(message, tag = "5")]
        Receipt(super::Receipt),
        #[prost(message, tag = "6")]
        Done(super::Done),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct FetchRequestBody {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub wanderer_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub owner_key: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub shard_index: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub carrier: Vec<u8>,
    #[prost(uint64, tag = "6")]
    pub time_ms: u64,
    #[prost(bytes = "vec", tag = "7")]
    pub nonce: Vec<u8>,
    /// Empty (the owner asks), or the 32-byte key of a keeper that signs (§15.2, §16.1).
    #[prost(bytes = "vec", tag = "8")]
    pub requester_key: Vec<u8>,
    /// Empty, or the owner's 64-byte repair grant to `requester_key`.
    #[prost(bytes = "vec", tag = "9")]
    pub grant: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FetchHeader {
    #[prost(message, optional, tag = "1")]
    pub manifest: Option<Signed>,
    #[prost(message, optional, tag = "2")]
    pub record: Option<Signed>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FetchMessage {
    #[prost(oneof = "fetch_message::Kind", tags = "1, 2, 3, 4, 5")]
    pub kind: Option<fetch_message::Kind>,
}

pub mod fetch_message {
    use prost::Oneof;

    #[derive(Clone, PartialEq, Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Request(super::Signed),
        #[prost(message, tag = "2")]
        Header(super::FetchHeader),
        #[prost(message, tag = "3")]
        Data(super::Data),
        #[prost(message, tag = "4")]
        Done(super::Done),
        #[prost(message, tag = "5")]
        Reject(super::Reject),
    }
}

// ---- /wdp/audit/1.0 (spec §18) ----

/// Signed by `challenger_key`, domain `wdp/v1/audit-challenge` (spec §18.2).
#[derive(Clone, PartialEq, Message)]
pub struct AuditChallengeBody {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub wanderer_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub owner_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub challenger_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub grant: Vec<u8>,
    #[prost(uint32, tag = "6")]
    pub shard_index: u32,
    #[prost(bytes = "vec", tag = "7")]
    pub carrier: Vec<u8>,
    #[prost(uint32, tag = "8")]
    pub leaf_index: u32,
    #[prost(uint64, tag = "9")]
    pub time_ms: u64,
    #[prost(bytes = "vec", tag = "10")]
    pub nonce: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AuditProof {
    #[prost(message, optional, tag = "1")]
    pub record: Option<Signed>,
    #[prost(bytes = "vec", tag = "2")]
    pub leaf: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub path: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AuditMoved {
    #[prost(message, optional, tag = "1")]
    pub link: Option<CustodyLink>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AuditMessage {
    #[prost(oneof = "audit_message::Kind", tags = "1, 2, 3, 4")]
    pub kind: Option<audit_message::Kind>,
}

pub mod audit_message {
    use prost::Oneof;

    #[derive(Clone, PartialEq, Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Challenge(super::Signed),
        #[prost(message, tag = "2")]
        Proof(super::AuditProof),
        #[prost(message, tag = "3")]
        Reject(super::Reject),
        #[prost(message, tag = "4")]
        Moved(super::AuditMoved),
    }
}

// ---- files of several segments (spec §19) ----

/// The payload of a file's index wanderer (spec §19.2). Not signed: the
/// index wanderer's AEAD and the ticket's manifest hash authenticate it.
/// Checked by [`crate::segments::parse_index`].
#[derive(Clone, PartialEq, Message)]
pub struct SegmentIndexBody {
    /// = 1 (`INDEX_VERSION`).
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// Bytes in the whole file.
    #[prost(uint64, tag = "2")]
    pub file_size: u64,
    /// Plaintext bytes per segment; the last one holds the rest.
    #[prost(uint64, tag = "3")]
    pub segment_size: u64,
    /// One per segment, in file order: SHA-256 of its manifest body.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub manifest_hashes: Vec<Vec<u8>>,
    /// One per segment, in file order: its repair seed.
    #[prost(bytes = "vec", repeated, tag = "5")]
    pub repair_seeds: Vec<Vec<u8>>,
    /// One per segment, in file order: its owner's repair grant to its
    /// repair key (64 bytes, spec §18.2, §19.2).
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub repair_grants: Vec<Vec<u8>>,
    /// None, or one per segment in file order: its owner key (a keeper
    /// needs it, §19.2).
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub owner_keys: Vec<Vec<u8>>,
}
