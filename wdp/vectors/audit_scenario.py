"""The shared audit scenario: a version 2 wanderer whose shard 0 went owner -> node 1 -> node 2.

Node 2 carries shard 0; node 1 handed it on (and remembers the hop); node 3
never had it; node 5 carries shard 0 of a version 1 wanderer (no Merkle roots).
"""

from __future__ import annotations

import dataclasses

from wdp.core.carrier import Carrier
from wdp.core.effects import ShardKey
from wdp.core.objects import CustodyLink, Reason
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, create_wanderer, launch_offer
from wdp.vectors.carriers import new_carrier
from wdp.vectors.common import EPOCH_SECONDS, OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.runs import run_handoff

HOLDER, PASSED_ON, STRANGER, OLD_HOLDER = 2, 1, 3, 5
AUDIT_NOW_MS = T0_MS + 60_000  # a minute after the hops
V1_SEED = label_seed("wdp/vectors/audit-v1-owner")


def audit_payload() -> bytes:
    """5000 fixed bytes: with k = 2 each shard is 2508 bytes, 3 leaves of 1024, 1024, 460."""
    out = b""
    while len(out) < 5000:
        out += label_seed(f"wdp/vectors/audit-payload/{len(out)}")
    return out[:5000]


@dataclasses.dataclass
class AuditScenario:
    wanderer: Wanderer  # version 2
    old: Wanderer  # version 1
    carriers: dict[int, Carrier]
    hop0: CustodyLink  # owner -> node 1
    hop1: CustodyLink  # node 1 -> node 2

    @property
    def key(self) -> ShardKey:
        return ShardKey(self.wanderer.manifest.value.wanderer_id, 0)


def _wanderer(owner_seed: bytes, version: int) -> Wanderer:
    return create_wanderer(
        audit_payload(),
        owner_seed=owner_seed,
        nonce=label_seed(f"wdp/vectors/audit-nonce/v{version}")[:12],
        k=2,
        n=3,
        epoch_seconds=EPOCH_SECONDS,
        now=now_s(T0_MS),
        version=version,
    )


def audit_scenario() -> AuditScenario:
    w, old = _wanderer(OWNER_SEED, 2), _wanderer(V1_SEED, 1)
    carriers = {i: new_carrier(i, T0_MS) for i in (PASSED_ON, HOLDER, STRANGER, OLD_HOLDER)}
    owner_key = w.manifest.value.owner_key
    offer = launch_offer(
        w.manifest, 0, owner_seed=OWNER_SEED, to_peer=carriers[PASSED_ON].peer, now=now_s(T0_MS)
    )
    t0 = run_handoff(
        offer, w.shards[0], Signer(seed(PASSED_ON)), carriers[PASSED_ON], T0_MS,
        remote_peer=owner_key,
    )  # fmt: skip
    sender = carriers[PASSED_ON]
    (held,) = sender.held.values()
    now1 = T0_MS + 1000
    offer1 = sender.next_offer(held, carriers[HOLDER].peer, Reason.TTL, now_s(now1))
    held.in_flight_to = carriers[HOLDER].peer
    t1 = run_handoff(
        offer1, w.shards[0], Signer(seed(HOLDER)), carriers[HOLDER], now1,
        remote_peer=sender.peer, sender_carrier=sender,
    )  # fmt: skip
    old_offer = launch_offer(
        old.manifest, 0, owner_seed=V1_SEED, to_peer=carriers[OLD_HOLDER].peer, now=now_s(T0_MS)
    )
    t_old = run_handoff(
        old_offer, old.shards[0], Signer(seed(OLD_HOLDER)), carriers[OLD_HOLDER], T0_MS,
        remote_peer=old.manifest.value.owner_key,
    )  # fmt: skip
    if t0.link is None or t1.link is None or t_old.link is None:
        raise AssertionError("the audit scenario's handoffs failed")
    for c in carriers.values():
        c.handle_timer(now_s(AUDIT_NOW_MS))
    scenario = AuditScenario(w, old, carriers, t0.link, t1.link)
    if carriers[PASSED_ON].handed_on(scenario.key) != t1.link:
        raise AssertionError("node 1 does not remember the hop to node 2")
    return scenario
