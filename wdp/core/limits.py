"""Protocol constants and size limits of WDP v1 (normative: protocols/README.md)."""

from __future__ import annotations

PROTOCOL_VERSION = 1  # every *Body but the manifest
MANIFEST_VERSION = 2  # what an owner makes: v2 adds the repair key and per-shard Merkle roots
MANIFEST_VERSIONS = (1, 2)  # what a carrier accepts
MIGRATE_PROTOCOL_ID = "/wdp/migrate/1.0"
FETCH_PROTOCOL_ID = "/wdp/fetch/1.0"
AUDIT_PROTOCOL_ID = "/wdp/audit/1.0"
DHT_NAMESPACE = "wdp"
KAD_PROTOCOL_ID = "/ipfs/kad/1.0.0"

KEY_SIZE = 32  # Ed25519 public keys and seeds
SIGNATURE_SIZE = 64
HASH_SIZE = 32  # SHA-256
NONCE_SIZE = 12  # ChaCha20-Poly1305
TAG_SIZE = 16  # Poly1305 tag appended to every AEAD ciphertext (payload and sealed box)

MAX_FRAME_SIZE = 1024 * 1024 + 64 * 1024  # one migrate message, varint prefix excluded
MAX_CHUNK_SIZE = 1024 * 1024  # Data.chunk
MAX_SHARD_SIZE = 128 * 1024 * 1024
MAX_PAYLOAD_SIZE = 2**31 - 1  # one AEAD call (cryptography/OpenSSL limit), see coding-and-crypto.md

# Files larger than one segment (section 19): a v3 ticket names an index wanderer.
FILE_TICKET_VERSION = 3  # a ticket's version byte for a file of segments
TICKET_VERSIONS = (*MANIFEST_VERSIONS, FILE_TICKET_VERSION)
INDEX_VERSION = 1  # SegmentIndexBody.version
MIN_SEGMENT_SIZE = 1024 * 1024
MAX_SEGMENT_SIZE = 64 * 1024 * 1024  # what a reader holds at once, a few times over
SEGMENT_SIZE = 32 * 1024 * 1024  # what an owner makes by default
MAX_SEGMENTS = 65536
MAX_FILE_SIZE = MAX_SEGMENTS * MAX_SEGMENT_SIZE  # 4 TiB; 2 TiB at the default segment size
MAX_INDEX_SIZE = 11 * 1024 * 1024  # SegmentIndexBody bytes (65,536 segments take about 10.5 MiB)
MAX_SHARDS = 256  # n; zfec's limit
MAX_CHAIN_LINKS = 64  # completed hops carried in an Offer
MAX_MANIFEST_BODY = 20 * 1024  # a v2 manifest of 256 shards is about 17.5 KiB
MAX_RECORD_BODY = 1024
MAX_RECEIPT_BODY = 512
MAX_DETAIL_BYTES = 256
MIN_EPOCH_SECONDS = 1
MAX_EPOCH_SECONDS = 7 * 24 * 3600

MAX_LOCATOR_VALUE = 2048
MAX_SEALED_HOLDER = 1024
MAX_HOLDER_ADDRS = 8
MAX_ADDR_BYTES = 256
MAX_LOCATOR_TTL_MS = 24 * 3600 * 1000
LOCATOR_LIFETIME_EPOCHS = 2  # a locator expires this many epochs after it is published
MIN_SEALED_HOLDER = 48  # sealed box overhead: ephemeral key + tag
# Forward pointers (spec 9): the owner's or a keeper's word, under a shard's generation-0
# key, of the generation a repaired shard is in now.
POINTER_REPUBLISH_MS = 12 * 3600 * 1000  # published again once this old (it lives 24 h)
MAX_GENERATION = 2**32 - 1  # a uint32 on the wire
POINTER_SPAN = 8  # generations looked up from the one a pointer names
MAX_POINTER_FOLLOWS = 2  # pointers a lookup follows, one after another

# Handoff timeouts, seconds.
OFFER_TIMEOUT = 10.0  # sender: Offer sent -> Accept or Reject
DATA_IDLE_TIMEOUT = 30.0  # receiver: gap between Data messages
RECEIPT_TIMEOUT = 30.0  # sender: Accept received -> Receipt, plus shard_size / MIN_TRANSFER_RATE
DONE_TIMEOUT = 10.0  # receiver: Receipt sent -> Done (informative only)
STORE_TIMEOUT = 20.0  # receiver: waiting for the driver to store the shard (< RECEIPT_TIMEOUT)
MIN_TRANSFER_RATE = 256 * 1024  # bytes/s a sender allows for before its receipt timeout
MIN_RECEIVE_RATE = 64 * 1024  # receiver: bytes/s of shard data it requires, per window
RATE_WINDOW = 30.0  # receiver: seconds over which that rate is measured

# /wdp/fetch/1.0 (the owner reads a shard from its carrier).
FETCH_NONCE_SIZE = 16  # FetchRequestBody.nonce
MAX_FETCH_REQUEST_BODY = 256  # FetchRequestBody bytes (a valid one is about 130)
FETCH_NONCE_MEMORY = 100_000  # nonces a carrier remembers (the soonest to expire go first)
FETCH_REQUEST_TIMEOUT = 10.0  # carrier: stream accepted -> whole request received
FETCH_LOAD_TIMEOUT = 20.0  # carrier: request accepted -> shard read from its store
FETCH_RESPONSE_TIMEOUT = 30.0  # client: request sent -> header or reject
FETCH_IDLE_TIMEOUT = 30.0  # client: gap between header, data and done; carrier: one write

# /wdp/audit/1.0 (an owner or keeper asks a carrier to prove it holds a shard).
AUDIT_NONCE_SIZE = 16  # AuditChallengeBody.nonce
MAX_AUDIT_CHALLENGE_BODY = 512  # AuditChallengeBody bytes (about 170 valid, 240 with a grant)
MAX_AUDIT_PATH = 32  # hashes in a proof's path (a 128 MiB shard needs 17)
AUDIT_REQUEST_TIMEOUT = 10.0  # carrier: stream accepted -> whole challenge received
AUDIT_LOAD_TIMEOUT = 20.0  # carrier: challenge accepted -> shard read from its store
AUDIT_RESPONSE_TIMEOUT = 30.0  # challenger: challenge sent -> proof or reject
