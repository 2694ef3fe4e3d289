from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Cipher(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIPHER_UNSPECIFIED: _ClassVar[Cipher]
    CHACHA20_POLY1305: _ClassVar[Cipher]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    GENESIS: _ClassVar[Reason]
    TTL: _ClassVar[Reason]
    THREAT: _ClassVar[Reason]
    DRAIN: _ClassVar[Reason]
    REPAIR: _ClassVar[Reason]

class RejectCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECT_UNSPECIFIED: _ClassVar[RejectCode]
    MALFORMED: _ClassVar[RejectCode]
    TOO_LARGE: _ClassVar[RejectCode]
    UNSUPPORTED_VERSION: _ClassVar[RejectCode]
    BAD_MANIFEST: _ClassVar[RejectCode]
    BAD_SIGNATURE: _ClassVar[RejectCode]
    BAD_CHAIN: _ClassVar[RejectCode]
    STALE_HOP: _ClassVar[RejectCode]
    WRONG_RECIPIENT: _ClassVar[RejectCode]
    WRONG_SENDER: _ClassVar[RejectCode]
    BAD_LOCATOR_KEY: _ClassVar[RejectCode]
    SHARD_HASH_MISMATCH: _ClassVar[RejectCode]
    CAPACITY: _ClassVar[RejectCode]
    SIBLING_HELD: _ClassVar[RejectCode]
    SHUTTING_DOWN: _ClassVar[RejectCode]
    BUSY: _ClassVar[RejectCode]
    PROTOCOL_VIOLATION: _ClassVar[RejectCode]
    TIMEOUT: _ClassVar[RejectCode]
    BAD_RECEIPT: _ClassVar[RejectCode]
    NOT_HELD: _ClassVar[RejectCode]
    UNAUTHORIZED: _ClassVar[RejectCode]
    BAD_PROOF: _ClassVar[RejectCode]
CIPHER_UNSPECIFIED: Cipher
CHACHA20_POLY1305: Cipher
REASON_UNSPECIFIED: Reason
GENESIS: Reason
TTL: Reason
THREAT: Reason
DRAIN: Reason
REPAIR: Reason
REJECT_UNSPECIFIED: RejectCode
MALFORMED: RejectCode
TOO_LARGE: RejectCode
UNSUPPORTED_VERSION: RejectCode
BAD_MANIFEST: RejectCode
BAD_SIGNATURE: RejectCode
BAD_CHAIN: RejectCode
STALE_HOP: RejectCode
WRONG_RECIPIENT: RejectCode
WRONG_SENDER: RejectCode
BAD_LOCATOR_KEY: RejectCode
SHARD_HASH_MISMATCH: RejectCode
CAPACITY: RejectCode
SIBLING_HELD: RejectCode
SHUTTING_DOWN: RejectCode
BUSY: RejectCode
PROTOCOL_VIOLATION: RejectCode
TIMEOUT: RejectCode
BAD_RECEIPT: RejectCode
NOT_HELD: RejectCode
UNAUTHORIZED: RejectCode
BAD_PROOF: RejectCode

class Signed(_message.Message):
    __slots__ = ("body", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ManifestBody(_message.Message):
    __slots__ = ("version", "wanderer_id", "owner_key", "cipher", "nonce", "payload_size", "k", "n", "shard_size", "shard_hashes", "epoch_seconds", "created_at_ms", "repair_key", "shard_roots")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WANDERER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_KEY_FIELD_NUMBER: _ClassVar[int]
    CIPHER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    SHARD_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHARD_HASHES_FIELD_NUMBER: _ClassVar[int]
    EPOCH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REPAIR_KEY_FIELD_NUMBER: _ClassVar[int]
    SHARD_ROOTS_FIELD_NUMBER: _ClassVar[int]
    version: int
    wanderer_id: bytes
    owner_key: bytes
    cipher: Cipher
    nonce: bytes
    payload_size: int
    k: int
    n: int
    shard_size: int
    shard_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    epoch_seconds: int
    created_at_ms: int
    repair_key: bytes
    shard_roots: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, version: _Optional[int] = ..., wanderer_id: _Optional[bytes] = ..., owner_key: _Optional[bytes] = ..., cipher: _Optional[_Union[Cipher, str]] = ..., nonce: _Optional[bytes] = ..., payload_size: _Optional[int] = ..., k: _Optional[int] = ..., n: _Optional[int] = ..., shard_size: _Optional[int] = ..., shard_hashes: _Optional[_Iterable[bytes]] = ..., epoch_seconds: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., repair_key: _Optional[bytes] = ..., shard_roots: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CustodyRecordBody(_message.Message):
    __slots__ = ("version", "wanderer_id", "shard_index", "generation", "hop", "from_peer", "to_peer", "shard_hash", "manifest_hash", "locator_key", "reason", "time_ms", "prev_record_hash")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WANDERER_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    HOP_FIELD_NUMBER: _ClassVar[int]
    FROM_PEER_FIELD_NUMBER: _ClassVar[int]
    TO_PEER_FIELD_NUMBER: _ClassVar[int]
    SHARD_HASH_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_HASH_FIELD_NUMBER: _ClassVar[int]
    LOCATOR_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PREV_RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    version: int
    wanderer_id: bytes
    shard_index: int
    generation: int
    hop: int
    from_peer: bytes
    to_peer: bytes
    shard_hash: bytes
    manifest_hash: bytes
    locator_key: bytes
    reason: Reason
    time_ms: int
    prev_record_hash: bytes
    def __init__(self, version: _Optional[int] = ..., wanderer_id: _Optional[bytes] = ..., shard_index: _Optional[int] = ..., generation: _Optional[int] = ..., hop: _Optional[int] = ..., from_peer: _Optional[bytes] = ..., to_peer: _Optional[bytes] = ..., shard_hash: _Optional[bytes] = ..., manifest_hash: _Optional[bytes] = ..., locator_key: _Optional[bytes] = ..., reason: _Optional[_Union[Reason, str]] = ..., time_ms: _Optional[int] = ..., prev_record_hash: _Optional[bytes] = ...) -> None: ...

class ReceiptBody(_message.Message):
    __slots__ = ("version", "record_hash", "receiver", "shard_hash", "time_ms")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    SHARD_HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    version: int
    record_hash: bytes
    receiver: bytes
    shard_hash: bytes
    time_ms: int
    def __init__(self, version: _Optional[int] = ..., record_hash: _Optional[bytes] = ..., receiver: _Optional[bytes] = ..., shard_hash: _Optional[bytes] = ..., time_ms: _Optional[int] = ...) -> None: ...

class CustodyLink(_message.Message):
    __slots__ = ("record", "receipt")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    record: Signed
    receipt: Signed
    def __init__(self, record: _Optional[_Union[Signed, _Mapping]] = ..., receipt: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class LocatorBody(_message.Message):
    __slots__ = ("version", "generation", "hop", "expires_at_ms", "sealed_holder")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    HOP_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SEALED_HOLDER_FIELD_NUMBER: _ClassVar[int]
    version: int
    generation: int
    hop: int
    expires_at_ms: int
    sealed_holder: bytes
    def __init__(self, version: _Optional[int] = ..., generation: _Optional[int] = ..., hop: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., sealed_holder: _Optional[bytes] = ...) -> None: ...

class HolderInfo(_message.Message):
    __slots__ = ("holder", "addrs", "record_hash")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    holder: bytes
    addrs: _containers.RepeatedScalarFieldContainer[bytes]
    record_hash: bytes
    def __init__(self, holder: _Optional[bytes] = ..., addrs: _Optional[_Iterable[bytes]] = ..., record_hash: _Optional[bytes] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("manifest", "chain", "record", "locator_secret")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LOCATOR_SECRET_FIELD_NUMBER: _ClassVar[int]
    manifest: Signed
    chain: _containers.RepeatedCompositeFieldContainer[CustodyLink]
    record: Signed
    locator_secret: bytes
    def __init__(self, manifest: _Optional[_Union[Signed, _Mapping]] = ..., chain: _Optional[_Iterable[_Union[CustodyLink, _Mapping]]] = ..., record: _Optional[_Union[Signed, _Mapping]] = ..., locator_secret: _Optional[bytes] = ...) -> None: ...

class Accept(_message.Message):
    __slots__ = ("record_hash",)
    RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    record_hash: bytes
    def __init__(self, record_hash: _Optional[bytes] = ...) -> None: ...

class Reject(_message.Message):
    __slots__ = ("code", "detail")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    code: RejectCode
    detail: str
    def __init__(self, code: _Optional[_Union[RejectCode, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class Data(_message.Message):
    __slots__ = ("offset", "chunk")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    offset: int
    chunk: bytes
    def __init__(self, offset: _Optional[int] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("receipt",)
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    receipt: Signed
    def __init__(self, receipt: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class Done(_message.Message):
    __slots__ = ("record_hash",)
    RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    record_hash: bytes
    def __init__(self, record_hash: _Optional[bytes] = ...) -> None: ...

class MigrateMessage(_message.Message):
    __slots__ = ("offer", "accept", "reject", "data", "receipt", "done")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    accept: Accept
    reject: Reject
    data: Data
    receipt: Receipt
    done: Done
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ..., accept: _Optional[_Union[Accept, _Mapping]] = ..., reject: _Optional[_Union[Reject, _Mapping]] = ..., data: _Optional[_Union[Data, _Mapping]] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ..., done: _Optional[_Union[Done, _Mapping]] = ...) -> None: ...

class FetchRequestBody(_message.Message):
    __slots__ = ("version", "wanderer_id", "owner_key", "shard_index", "carrier", "time_ms", "nonce", "requester_key", "grant")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WANDERER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_KEY_FIELD_NUMBER: _ClassVar[int]
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    CARRIER_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_KEY_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    version: int
    wanderer_id: bytes
    owner_key: bytes
    shard_index: int
    carrier: bytes
    time_ms: int
    nonce: bytes
    requester_key: bytes
    grant: bytes
    def __init__(self, version: _Optional[int] = ..., wanderer_id: _Optional[bytes] = ..., owner_key: _Optional[bytes] = ..., shard_index: _Optional[int] = ..., carrier: _Optional[bytes] = ..., time_ms: _Optional[int] = ..., nonce: _Optional[bytes] = ..., requester_key: _Optional[bytes] = ..., grant: _Optional[bytes] = ...) -> None: ...

class FetchHeader(_message.Message):
    __slots__ = ("manifest", "record")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    manifest: Signed
    record: Signed
    def __init__(self, manifest: _Optional[_Union[Signed, _Mapping]] = ..., record: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class FetchMessage(_message.Message):
    __slots__ = ("request", "header", "data", "done", "reject")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    request: Signed
    header: FetchHeader
    data: Data
    done: Done
    reject: Reject
    def __init__(self, request: _Optional[_Union[Signed, _Mapping]] = ..., header: _Optional[_Union[FetchHeader, _Mapping]] = ..., data: _Optional[_Union[Data, _Mapping]] = ..., done: _Optional[_Union[Done, _Mapping]] = ..., reject: _Optional[_Union[Reject, _Mapping]] = ...) -> None: ...

class AuditChallengeBody(_message.Message):
    __slots__ = ("version", "wanderer_id", "owner_key", "challenger_key", "grant", "shard_index", "carrier", "leaf_index", "time_ms", "nonce")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WANDERER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_KEY_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_KEY_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    CARRIER_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    version: int
    wanderer_id: bytes
    owner_key: bytes
    challenger_key: bytes
    grant: bytes
    shard_index: int
    carrier: bytes
    leaf_index: int
    time_ms: int
    nonce: bytes
    def __init__(self, version: _Optional[int] = ..., wanderer_id: _Optional[bytes] = ..., owner_key: _Optional[bytes] = ..., challenger_key: _Optional[bytes] = ..., grant: _Optional[bytes] = ..., shard_index: _Optional[int] = ..., carrier: _Optional[bytes] = ..., leaf_index: _Optional[int] = ..., time_ms: _Optional[int] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class AuditProof(_message.Message):
    __slots__ = ("record", "leaf", "path")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    record: Signed
    leaf: bytes
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, record: _Optional[_Union[Signed, _Mapping]] = ..., leaf: _Optional[bytes] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AuditMoved(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: CustodyLink
    def __init__(self, link: _Optional[_Union[CustodyLink, _Mapping]] = ...) -> None: ...

class AuditMessage(_message.Message):
    __slots__ = ("challenge", "proof", "reject", "moved")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    challenge: Signed
    proof: AuditProof
    reject: Reject
    moved: AuditMoved
    def __init__(self, challenge: _Optional[_Union[Signed, _Mapping]] = ..., proof: _Optional[_Union[AuditProof, _Mapping]] = ..., reject: _Optional[_Union[Reject, _Mapping]] = ..., moved: _Optional[_Union[AuditMoved, _Mapping]] = ...) -> None: ...

class SegmentIndexBody(_message.Message):
    __slots__ = ("version", "file_size", "segment_size", "manifest_hashes", "repair_seeds", "repair_grants", "owner_keys")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_HASHES_FIELD_NUMBER: _ClassVar[int]
    REPAIR_SEEDS_FIELD_NUMBER: _ClassVar[int]
    REPAIR_GRANTS_FIELD_NUMBER: _ClassVar[int]
    OWNER_KEYS_FIELD_NUMBER: _ClassVar[int]
    version: int
    file_size: int
    segment_size: int
    manifest_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    repair_seeds: _containers.RepeatedScalarFieldContainer[bytes]
    repair_grants: _containers.RepeatedScalarFieldContainer[bytes]
    owner_keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, version: _Optional[int] = ..., file_size: _Optional[int] = ..., segment_size: _Optional[int] = ..., manifest_hashes: _Optional[_Iterable[bytes]] = ..., repair_seeds: _Optional[_Iterable[bytes]] = ..., repair_grants: _Optional[_Iterable[bytes]] = ..., owner_keys: _Optional[_Iterable[bytes]] = ...) -> None: ...
