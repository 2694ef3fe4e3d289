"""The sans-IO protocol core of WDP: every rule of the protocol, once.

Everything here is pure: machines take bytes, observations, ``now`` and a
seeded rng, and return effects. No module in this package performs I/O, reads
a clock or uses global randomness (a test fails if one imports such a
library), so the libp2p daemon (``wdp.node``), the simulator (``wdp.sim``) and
the in-process grid (``wdp.testing``) drive the very same rules.

Public API, by task
-------------------

**Run a node** (:mod:`wdp.core.node`): one :class:`NodeCore` per node owns the
carrier and every stream session by id, with one timer::

    core = NodeCore(signer, rng, now, NodeParams(), self_ipv4=..., addrs=[...])
    sid, effects = core.accept_stream(protocol, remote_key, now)   # a peer opened one
    effects = core.data_received(sid, data, now)                    # ... its bytes
    effects = core.handle_timer(now)                                # at core.get_timer()
    for eff in effects:
        match eff:
            case OpenStream(): ...      # dial; answer stream_opened / stream_failed
            case SendData(): ...        # write eff.data on stream eff.sid
            case StoreShard(): ...      # store; answer shard_stored
            case PersistReceipt(): ...  # commit the receipt; answer receipt_persisted
            case LoadShard(): ...       # read; answer shard_loaded / load_failed
            case PublishLocator(): ...  # DHT put; on failure answer locator_failed
            ...                         # and the rest of NodeEffect (assert_never)

Pings and connections go in as ``ping_ok``/``ping_failed``/``peer_connected``/
``peer_disconnected``; the operator's ``drain`` and ``panic``; ``restore`` the
store's committed shards after a restart.

**Be an owner** (:mod:`wdp.core.owner`): one :class:`OwnerCore` per node decides
put, get, check and repair. Its ``Launch``/``Fetch``/``Cancel`` effects go to
``NodeCore.launch``/``fetch``/``cancel`` (whose ``LaunchEnded``/``FetchEnded``
come back as ``launch_ended``/``fetch_ended``); ``Lookup``, ``Probe`` and
``ReadLocal`` go to the driver's DHT, dialer and store.

**The pieces, for tests, tools and other implementations**: the stream
sessions of ``/wdp/migrate/1.0`` (:mod:`wdp.core.migrate`) and
``/wdp/fetch/1.0`` (:mod:`wdp.core.fetch`); the carrier's rules
(:mod:`wdp.core.carrier`: schedule, placement, threat response, admission);
signed objects and messages (:mod:`wdp.core.objects`,
:mod:`wdp.core.messages`, :mod:`wdp.core.signing`, :mod:`wdp.core.framing`);
offer and chain checks (:mod:`wdp.core.custody`); locator records
(:mod:`wdp.core.locator`); the wanderer pipeline (:mod:`wdp.core.wanderer`,
:mod:`wdp.core.crypto`, :mod:`wdp.core.erasure`); the ticket
(:mod:`wdp.core.ticket`); errors (:mod:`wdp.core.errors`: a peer's fault is a
``RemoteProtocolError``, the caller's a ``LocalProtocolError``).
"""

from .carrier import Carrier, CarrierParams, HeldShard
from .effects import ShardKey
from .errors import (
    LocalProtocolError,
    ProtocolError,
    RejectCode,
    RemoteProtocolError,
    WdpError,
)
from .messages import Offer
from .node import NodeCore, NodeEffect, NodeParams
from .objects import CustodyLink, CustodyRecord, Manifest, Reason, Signed
from .owner import OwnedWanderer, OwnerCore, OwnerEffect, OwnerParams, OwnerView
from .signing import Signer
from .stored import ShardMeta
from .ticket import Ticket, TicketError
from .wanderer import Wanderer, create_wanderer, launch_offer, rebuild

__all__ = [
    "Carrier",
    "CarrierParams",
    "CustodyLink",
    "CustodyRecord",
    "HeldShard",
    "LocalProtocolError",
    "Manifest",
    "NodeCore",
    "NodeEffect",
    "NodeParams",
    "Offer",
    "OwnedWanderer",
    "OwnerCore",
    "OwnerEffect",
    "OwnerParams",
    "OwnerView",
    "ProtocolError",
    "Reason",
    "RejectCode",
    "RemoteProtocolError",
    "ShardKey",
    "ShardMeta",
    "Signed",
    "Signer",
    "Ticket",
    "TicketError",
    "Wanderer",
    "WdpError",
    "create_wanderer",
    "launch_offer",
    "rebuild",
]
