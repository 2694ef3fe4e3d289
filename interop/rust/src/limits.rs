//! Limits and constants of spec §10 (and §6.4 / §15.7 / §18.6 timers, in
//! milliseconds here; §19's segment limits included).

pub const PROTOCOL_VERSION: u32 = 1;
pub const KEY_SIZE: usize = 32;
pub const SIGNATURE_SIZE: usize = 64;
pub const HASH_SIZE: usize = 32;
pub const NONCE_SIZE: usize = 12;
pub const TAG_SIZE: usize = 16;
pub const MAX_FRAME_SIZE: u64 = 1_114_112;
pub const MAX_CHUNK_SIZE: usize = 1_048_576;
pub const MAX_PAYLOAD_SIZE: u64 = 2_147_483_647;
pub const MAX_SHARD_SIZE: u64 = 134_217_728;
pub const MAX_SHARDS: u32 = 256;
pub const MAX_CHAIN_LINKS: usize = 64;
/// Both manifest versions (it was 16384 before version 2, spec §4).
pub const MAX_MANIFEST_BODY: usize = 20_480;
/// Manifest versions a node accepts (spec §4.1).
pub const MANIFEST_VERSIONS: [u32; 2] = [1, 2];
/// A ticket's first byte (spec §16): 1 and 2 name one wanderer of that
/// manifest version, 3 a file of segments (spec §19).
pub const TICKET_VERSIONS: [u32; 3] = [1, 2, 3];
/// The ticket version of a file of segments (spec §16, §19).
pub const FILE_TICKET_VERSION: u32 = 3;
/// `SegmentIndexBody.version` (spec §19.2).
pub const INDEX_VERSION: u32 = 1;
/// Bounds of an index's `segment_size`, plaintext bytes (spec §10, §19.2).
pub const MIN_SEGMENT_SIZE: u64 = 1_048_576;
pub const MAX_SEGMENT_SIZE: u64 = 67_108_864;
/// Segments of one file (spec §10, §19.2).
pub const MAX_SEGMENTS: u64 = 65_536;
/// Bytes of an index wanderer's payload (spec §10, §19.2): the largest
/// index (`MAX_SEGMENTS` entries of 2 + 32 + 2 + 32 + 2 + 64 + 2 + 32
/// bytes, about 10.5 MiB) fits.
pub const MAX_INDEX_SIZE: usize = 11_534_336;
pub const MAX_RECORD_BODY: usize = 1024;
pub const MAX_RECEIPT_BODY: usize = 512;
pub const MAX_DETAIL_BYTES: usize = 256;
pub const MIN_EPOCH_SECONDS: u32 = 1;
pub const MAX_EPOCH_SECONDS: u32 = 604_800;
/// A carrier's floor on the epoch it honours (spec §12 "Epoch floor"; the
/// reference default): a shard whose manifest asks for less stays this long.
pub const MIN_EPOCH_FLOOR_SECONDS: u32 = 60;
pub const MAX_LOCATOR_VALUE: usize = 2048;
pub const MIN_SEALED_HOLDER: usize = 48;
pub const MAX_SEALED_HOLDER: usize = 1024;
pub const MAX_LOCATOR_BODY: usize = MAX_SEALED_HOLDER + 64;
pub const MAX_HOLDER_ADDRS: usize = 8;
pub const MAX_ADDR_BYTES: usize = 256;
pub const MAX_LOCATOR_TTL_MS: u64 = 86_400_000;
pub const MAX_CLOCK_SKEW_MS: u64 = 300_000;
pub const LOCATOR_LIFETIME_EPOCHS: u64 = 2;
pub const MAX_FETCH_REQUEST_BODY: usize = 256;
pub const FETCH_NONCE_SIZE: usize = 16;
pub const FETCH_NONCE_MEMORY: usize = 100_000;
pub const MAX_AUDIT_CHALLENGE_BODY: usize = 512;
pub const AUDIT_NONCE_SIZE: usize = 16;
/// Merkle leaf bytes (coding-and-crypto.md §8).
pub const LEAF_SIZE: usize = 1024;
/// Hashes in an audit proof's path (spec §18.3).
pub const MAX_AUDIT_PATH: usize = 32;
/// Audit nonces a carrier remembers (local policy, as `FETCH_NONCE_MEMORY`).
pub const AUDIT_NONCE_MEMORY: usize = 100_000;
/// Handed-on hops a carrier remembers for Moved answers (spec §18.4, local policy).
pub const HANDED_ON_MEMORY: usize = 100_000;
/// A handed-on hop is remembered this many epochs of its manifest (spec §12
/// `handed_on_epochs`), at most `MAX_HANDED_ON_MS`.
pub const HANDED_ON_EPOCHS: u64 = 2;
pub const MAX_HANDED_ON_MS: u64 = 86_400_000;

/// Migrate timers (spec §6.4), in milliseconds.
pub const OFFER_TIMEOUT_MS: u64 = 10_000;
pub const DATA_IDLE_TIMEOUT_MS: u64 = 30_000;
pub const RECEIPT_TIMEOUT_MS: u64 = 30_000;
pub const STORE_TIMEOUT_MS: u64 = 20_000;
pub const DONE_TIMEOUT_MS: u64 = 10_000;
pub const MIN_TRANSFER_RATE: u64 = 262_144;

/// Fetch timers (spec §15.7), in milliseconds.
pub const FETCH_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const FETCH_LOAD_TIMEOUT_MS: u64 = 20_000;
pub const FETCH_RESPONSE_TIMEOUT_MS: u64 = 30_000;
pub const FETCH_IDLE_TIMEOUT_MS: u64 = 30_000;

/// Audit timers (spec §18.6), in milliseconds.
pub const AUDIT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const AUDIT_LOAD_TIMEOUT_MS: u64 = 20_000;
pub const AUDIT_RESPONSE_TIMEOUT_MS: u64 = 30_000;

/// Sender's receipt deadline after Accept (spec §6.4): `RECEIPT_TIMEOUT +
/// shard_size / MIN_TRANSFER_RATE` seconds (real division), rounded up to ms.
pub fn receipt_deadline_ms(shard_size: u64) -> u64 {
    RECEIPT_TIMEOUT_MS + (shard_size * 1000).div_ceil(MIN_TRANSFER_RATE)
}
