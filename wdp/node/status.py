"""A running node's state as plain JSON-able data: ``wdp status`` sends
:func:`node_status`, and the dashboard sends :func:`dashboard_state`, which adds
the history, custody chains and the owner's wanderers. Read-only: nothing here
changes the node, and nothing runs unless someone asks."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .node import Node
    from .owner import Owner

SHORT = 16  # hex characters of a peer key shown


def network_group(ipv4: str | None) -> str | None:
    """The /16 a peer is grouped in for placement (spec 12), e.g. ``10.1.0.0/16``."""
    if not ipv4:
        return None
    try:
        return str(ipaddress.ip_network(f"{ipv4}/16", strict=False))
    except ValueError:
        return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def node_status(node: Node, owner: Owner) -> dict[str, Any]:
    """What ``wdp status`` shows: peers and what the audits found, shards held, counters."""
    carrier = node.carrier
    now = node.clock()
    evidence = owner.core.evidence
    excluded = evidence.excluded()
    distrusted = carrier.evidence.distrusted(now)
    peers = []
    for p in carrier.latency.peers():
        ev = evidence.peers.get(p.peer)
        peers.append({
            "peer": p.peer.hex()[:SHORT], "ipv4": p.ipv4, "loss": round(p.loss, 3),
            "rtt_ms": _ms(p.srtt), "min_rtt_ms": _ms(p.min_rtt), "healthy": p.healthy,
            "proven": carrier.proven(p.peer),
            "audits": None if ev is None else {
                "proved": ev.proved, "moved": ev.moved, "failed": ev.failed,
                "unanswered": ev.unanswered, "last_failure": ev.last_failure,
            },
            "excluded": p.peer in excluded, "distrusted": p.peer in distrusted,
        })  # fmt: skip
    stats = node.stats
    held = [
        {"shard": str(h.key), "hop": h.record.hop, "reason": h.record.reason.name,
         "next_hop_in": round(h.next_hop_at - now, 1)}
        for h in carrier.held.values()
    ]  # fmt: skip
    recent = [
        {"ok": h.ok, "code": h.code or None, "detail": h.detail}
        for h in [h for h in node.history.hops if not h.inbound][-10:]
    ]
    return {
        "peer_id": str(node.peer_id), "peer_key": node.core.peer.hex()[:SHORT],
        "addrs": [str(a) for a in node.addrs],
        "threat_level": int(carrier.level), "threat_reasons": list(carrier.threat.reasons),
        "peers": peers, "held": held, "recent_hops": recent,
        "hops_in": stats.hops_in, "hops_out": stats.hops_out,
        "audits": {
            "answered": stats.audits_answered, "refused": stats.audits_refused,
            "passed": stats.audits_passed, "failed": dict(stats.audits_failed),
            "spot_passed": stats.spot_audits_passed, "spot_failed": stats.spot_audits_failed,
        },
        "excluded_peers": sorted(p.hex()[:SHORT] for p in excluded),
        "refusals": dict(sorted(node.refusals.counts.items())),
    }  # fmt: skip


def dashboard_state(node: Node, owner: Owner) -> dict[str, Any]:
    """:func:`node_status` and what the dashboard draws besides: each peer's network
    group and long-window RTT, the custody chain of every shard held, the threat
    changes and hops remembered, and the wanderers this node owns or keeps."""
    now = node.clock()
    carrier = node.carrier
    state = node_status(node, owner)
    state["now"] = now
    stats = {p.peer.hex()[:SHORT]: p for p in carrier.latency.peers()}
    for peer in state["peers"]:
        p = stats[peer["peer"]]
        peer["group"] = network_group(p.ipv4)
        peer["seen_at"] = None if p.last_seen is None else round(p.last_seen, 1)
        peer["lost"] = p.lost
    for entry, h in zip(state["held"], carrier.held.values(), strict=True):
        del entry["next_hop_in"]  # times are absolute here: a snapshot changes when the node does
        entry["next_hop_at"] = round(h.next_hop_at, 1)
        entry["acquired_at"] = round(h.acquired_at, 1)
        entry["chain"] = [
            {"hop": r.hop, "reason": r.reason.name, "time_ms": r.time_ms,
             "from": r.from_peer.hex()[:SHORT], "to": r.to_peer.hex()[:SHORT]}
            for r in (link.record.value for link in h.chain)
        ]  # fmt: skip
    history = node.history
    state["threat_history"] = [
        {"at": t.at, "level": t.level, "reasons": list(t.reasons)} for t in history.threats
    ]
    state["hop_log"] = [
        {"at": h.at, "direction": "in" if h.inbound else "out", "ok": h.ok, "shard": h.key,
         "peer": h.peer[:SHORT], "hop": h.hop, "reason": h.reason, "code": h.code,
         "detail": h.detail}
        for h in history.hops
    ]  # fmt: skip
    wanderers = []
    for wid, record in sorted(owner.core.owned.items(), key=lambda kv: kv[1].created_at):
        t = record.decoded_authority()
        checked = owner.last_check.get(wid)
        due = owner.core.next_check(wid)
        wanderers.append({
            "id": wid.hex()[:SHORT], "name": record.name, "k": t.k, "n": t.n,
            "size": record.size, "role": "keeper" if record.kept else "owner",
            "part_of": record.part_of[:SHORT], "generations": list(record.generations),
            "stale": list(record.stale), "carriers": [c[:SHORT] for c in record.carriers],
            "carriers_at": [round(at, 1) for at in record.carriers_at],
            "last_check_at": None if checked is None else round(checked, 1),
            "next_check_at": None if due is None else round(due, 1),
            "repairs": list(record.repairs),
        })  # fmt: skip
    state["wanderers"] = wanderers
    return state
