"""The carrier's checks of a fetch request, its nonce cache, and the client's checks.

Server checks, in order; the first failure decides the code (protocols/README.md
section 15):

====  ===============================================================  ===================
step  check                                                            code
====  ===============================================================  ===================
F1    frame, message and request body decode                           TOO_LARGE, MALFORMED,
                                                                       UNSUPPORTED_VERSION
F2    ``wanderer_id`` = H("wdp/v1/wanderer-id" || ``owner_key``)        UNAUTHORIZED
F3    a keeper's ``grant`` verifies with ``owner_key``, and the         UNAUTHORIZED
      signature with ``requester_key`` (a keeper) or ``owner_key``
F4    ``carrier`` = this node's peer key                               WRONG_RECIPIENT
F5    ``time_ms`` within +-5 min of this node's clock                  STALE_HOP
F6    ``nonce`` not seen in a request that passed F1-F6 before         STALE_HOP
F7    this node carries shard (``wanderer_id``, ``shard_index``)       NOT_HELD
====  ===============================================================  ===================

F1 is :func:`~.request.decode_fetch_message`; F2-F7 are :func:`check_fetch_request`.
The client's checks C1-C6 of the carrier's Header are :func:`check_fetch_header`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..audit.challenge import grant_is_valid
from ..crypto import wanderer_id as derive_wanderer_id
from ..effects import ShardKey
from ..errors import RejectCode, RemoteProtocolError
from ..nonces import NonceCache, check_fresh
from ..objects import Signed
from .request import FetchRequest, Header

if TYPE_CHECKING:
    from ..carrier import HeldShard

# ---- the carrier's checks ------------------------------------------------------------

__all__ = ["FetchLookup", "NonceCache", "check_fetch_header", "check_fetch_request"]

FetchLookup = Callable[[ShardKey], "HeldShard | None"]
"""The shard this node carries under a key (committed custody only), or None.

The server reads the manifest and the hop that brought the shard
(``held.manifest``, ``held.last.record``).
"""


def check_fetch_request(
    request: Signed[FetchRequest],
    *,
    local_peer: bytes,
    lookup: FetchLookup,
    now: float,
    nonces: NonceCache,
) -> HeldShard:
    """Checks F2-F7 of a decoded request (F1 is decoding); raise RemoteProtocolError or serve.

    A request that passes F2-F6 uses up its nonce, whether or not this node
    carries the shard.
    """
    req = request.value
    if req.wanderer_id != derive_wanderer_id(req.owner_key):
        raise RemoteProtocolError(
            RejectCode.UNAUTHORIZED, "the request's owner key does not own that wanderer"
        )
    if req.requester_key and not grant_is_valid(
        req.owner_key, req.wanderer_id, req.requester_key, req.grant
    ):
        raise RemoteProtocolError(
            RejectCode.UNAUTHORIZED, "the requester holds no grant of the wanderer's owner"
        )
    if not request.verify(req.signer_key):
        raise RemoteProtocolError(
            RejectCode.UNAUTHORIZED,
            "the request is not signed by the wanderer's owner key or the granted key",
        )
    if req.carrier != local_peer:
        raise RemoteProtocolError(
            RejectCode.WRONG_RECIPIENT, "the request is addressed to another node"
        )
    check_fresh(req.time_ms, req.nonce, now, nonces, "request")
    held = lookup(req.key)
    if held is None or held.manifest.value.owner_key != req.owner_key:
        raise RemoteProtocolError(RejectCode.NOT_HELD, "this node does not carry that shard")
    return held


# ---- the client's checks ---------------------------------------------------------------


def check_fetch_header(
    header: Header, request: FetchRequest, expected_manifest_hash: bytes | None = None
) -> None:
    """The client's checks C1-C6 of a decoded Header; raise RemoteProtocolError if one fails."""
    manifest, record = header.manifest, header.record
    m, rec = manifest.value, record.value
    if expected_manifest_hash is not None and manifest.hash != expected_manifest_hash:
        raise RemoteProtocolError(RejectCode.BAD_MANIFEST, "the manifest is not the expected one")
    if m.owner_key != request.owner_key:
        raise RemoteProtocolError(RejectCode.BAD_MANIFEST, "the manifest belongs to another owner")
    if not manifest.verify(m.owner_key):
        raise RemoteProtocolError(RejectCode.BAD_MANIFEST, "the manifest signature is invalid")
    if not record.verify(rec.from_peer):
        raise RemoteProtocolError(
            RejectCode.BAD_SIGNATURE, "the custody record signature is invalid"
        )
    bad = RejectCode.BAD_CHAIN
    if rec.wanderer_id != request.wanderer_id or rec.shard_index != request.shard_index:
        raise RemoteProtocolError(bad, "the custody record is for another shard")
    if rec.shard_index >= m.n:
        raise RemoteProtocolError(bad, f"shard index {rec.shard_index} is not below n={m.n}")
    if rec.shard_hash != m.shard_hashes[rec.shard_index]:
        raise RemoteProtocolError(bad, "the record's shard hash is not the manifest's")
    if rec.manifest_hash != manifest.hash:
        raise RemoteProtocolError(bad, "the record names another manifest")
    if rec.hop == 0 and not m.may_start(rec):
        raise RemoteProtocolError(bad, "hop 0 was not signed by the owner (or its repair key)")
    if rec.to_peer != request.carrier:
        raise RemoteProtocolError(RejectCode.WRONG_SENDER, "the record names another carrier")
