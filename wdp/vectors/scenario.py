"""The shared scenario: one wanderer, shard 0 handed through four nodes."""

from __future__ import annotations

import dataclasses

from wdp.core.carrier import Carrier
from wdp.core.effects import ShardKey
from wdp.core.messages import Offer
from wdp.core.objects import HolderInfo, Reason
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, create_wanderer, launch_offer
from wdp.vectors.carriers import new_carrier
from wdp.vectors.common import EPOCH_SECONDS, OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.runs import Transcript, run_handoff

CHAIN_NODES = (1, 2, 3, 4)  # hop h goes to node CHAIN_NODES[h]
OUTSIDER = 5  # a node outside the chain: forger, wrong sender
CHAIN_REASONS = (Reason.GENESIS, Reason.TTL, Reason.THREAT, Reason.DRAIN)


@dataclasses.dataclass
class Scenario:
    wanderer: Wanderer
    offers: list[Offer]  # offers[h] is hop h of shard 0
    transcripts: list[Transcript]  # the real handoff of each hop
    carriers: dict[int, Carrier]


def chain_scenario() -> Scenario:
    wanderer = create_wanderer(
        b"custody vector payload",
        owner_seed=OWNER_SEED,
        nonce=label_seed("wdp/vectors/custody-nonce")[:12],
        k=2,
        n=3,
        epoch_seconds=EPOCH_SECONDS,
        now=now_s(T0_MS),
        version=1,
    )
    shard = wanderer.shards[0]
    carriers = {i: new_carrier(i, T0_MS) for i in CHAIN_NODES}
    offers: list[Offer] = []
    transcripts: list[Transcript] = []
    owner_key = wanderer.manifest.value.owner_key
    for hop, reason in enumerate(CHAIN_REASONS):
        now_ms = T0_MS + 1000 * hop
        to = CHAIN_NODES[hop]
        if hop == 0:
            offer = launch_offer(
                wanderer.manifest,
                0,
                owner_seed=OWNER_SEED,
                to_peer=carriers[to].peer,
                now=now_s(now_ms),
            )
            sender_carrier, remote = None, owner_key
        else:
            sender_carrier = carriers[CHAIN_NODES[hop - 1]]
            (held,) = sender_carrier.held.values()
            offer = sender_carrier.next_offer(held, carriers[to].peer, reason, now_s(now_ms))
            held.in_flight_to = carriers[to].peer
            remote = sender_carrier.peer
        t = run_handoff(
            offer,
            shard,
            Signer(seed(to)),
            carriers[to],
            now_ms,
            remote_peer=remote,
            sender_carrier=sender_carrier,
        )
        if t.link is None:
            raise AssertionError(f"the chain scenario failed at hop {hop}")
        offers.append(offer)
        transcripts.append(t)
    return Scenario(wanderer, offers, transcripts, carriers)


LONG_CHAIN_NODES = (6, 7, 8)  # hop h of shard 1 goes to node LONG_CHAIN_NODES[h % 3]
LONG_CHAIN_HOPS = 66


def long_chain_offers(wanderer: Wanderer) -> list[Offer]:
    """Shard 1 through LONG_CHAIN_HOPS real handoffs among nodes 6, 7 and 8."""
    carriers = {i: new_carrier(i, T0_MS) for i in LONG_CHAIN_NODES}
    key = ShardKey(wanderer.manifest.value.wanderer_id, 1)
    offers: list[Offer] = []
    for hop in range(LONG_CHAIN_HOPS):
        now_ms = T0_MS + 1000 * hop
        to = LONG_CHAIN_NODES[hop % 3]
        if hop == 0:
            offer = launch_offer(
                wanderer.manifest,
                1,
                owner_seed=OWNER_SEED,
                to_peer=carriers[to].peer,
                now=now_s(now_ms),
            )
            sender, remote = None, wanderer.manifest.value.owner_key
        else:
            sender = carriers[LONG_CHAIN_NODES[(hop - 1) % 3]]
            held = sender.held[key]
            offer = sender.next_offer(held, carriers[to].peer, Reason.TTL, now_s(now_ms))
            held.in_flight_to = carriers[to].peer
            remote = sender.peer
        t = run_handoff(
            offer,
            wanderer.shards[1],
            Signer(seed(to)),
            carriers[to],
            now_ms,
            remote_peer=remote,
            sender_carrier=sender,
        )
        if t.link is None:
            raise AssertionError(f"the long chain failed at hop {hop}")
        offers.append(offer)
    return offers


def multiaddr_ip4_tcp(ip: str, port: int, ws: bool = False) -> tuple[bytes, str]:
    """A binary multiaddr /ip4/<ip>/tcp/<port>[/ws] and its text form."""
    binary = b"\x04" + bytes(int(p) for p in ip.split(".")) + b"\x06" + port.to_bytes(2, "big")
    text = f"/ip4/{ip}/tcp/{port}"
    if ws:
        binary, text = binary + b"\xdd\x03", text + "/ws"  # ws = code 477
    return binary, text


def holder_info(scenario: Scenario, hop: int) -> tuple[HolderInfo, list[str]]:
    t = scenario.transcripts[hop]
    assert t.link is not None
    addrs = [
        multiaddr_ip4_tcp("127.0.0.1", 4001),
        multiaddr_ip4_tcp(f"10.0.0.{hop + 1}", 4002, True),
    ]
    info = HolderInfo(
        holder=t.link.record.value.to_peer,
        addrs=tuple(a for a, _ in addrs),
        record_hash=t.link.record.hash,
    )
    return info, [text for _, text in addrs]
