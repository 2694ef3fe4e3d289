"""``/wdp/fetch/1.0``: the owner reads one shard from its current carrier.

One stream carries one fetch. The owner's node (the *client*) sends a
``FetchRequestBody`` signed with the owner key; the carrier (the *server*)
answers with a Reject, or with a Header (the manifest and the custody record
that made it the carrier), the shard as in-order Data, and Done.

Everything here is sans-IO, in the style of :mod:`wdp.core.migrate`: bytes go
into ``receive_data(data, now)``, effects come out (:class:`~.effects.Send`,
:class:`~.effects.Close`, :class:`LoadShard`), time only enters through
``now`` and ``get_timer()`` / ``handle_timer(now)``, and the request's nonce
is a parameter. The libp2p driver (``wdp.node.fetch``) and any simulator run
the same rules.

The package is split by concern, as the Rust peer's ``interop/rust/src/fetch/``:

* :mod:`.request`: the signed request and the messages, their encoding and decoding;
* :mod:`.checks`: the carrier's checks F2-F7 with its nonce cache, and the
  client's checks of a Header;
* :mod:`.sessions`: the server and client state machines and their transitions.
"""

from __future__ import annotations

from ..errors import FETCH_REJECT_CODES
from .checks import (
    FetchLookup,
    NonceCache,
    check_fetch_header,
    check_fetch_request,
)
from .request import (
    FetchMessage,
    FetchRequest,
    Header,
    Request,
    decode_fetch_message,
    encode_fetch_message,
    make_fetch_request,
)
from .sessions import (
    FetchClientSession,
    FetchClientState,
    FetchEffect,
    FetchResult,
    FetchServerSession,
    FetchServerState,
    LoadShard,
)

__all__ = [
    "FETCH_REJECT_CODES",
    "FetchClientSession",
    "FetchClientState",
    "FetchEffect",
    "FetchLookup",
    "FetchMessage",
    "FetchRequest",
    "FetchResult",
    "FetchServerSession",
    "FetchServerState",
    "Header",
    "LoadShard",
    "NonceCache",
    "Request",
    "check_fetch_header",
    "check_fetch_request",
    "decode_fetch_message",
    "encode_fetch_message",
    "make_fetch_request",
]
