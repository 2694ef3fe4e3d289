"""Part (e) of the bench: how fast a small file is found and got through a node that did not
put it, healthy, with 3 of its carriers paused (SIGSTOP: a network gone dark) and right
after 3 are killed (SIGKILL: a seizure).

Node 0 puts a 4 MiB file; node 1, which has no record of it and so looks up every
generation of every shard, gets it back ``plan.find_samples`` times per condition.
The baseline is the same get through node 0, the owner, which knows each shard's
generation, measured in the same run on the same healthy swarm.
"""

from __future__ import annotations

import hashlib
import os
import signal
import statistics
import time
from pathlib import Path

from wdp.core.ticket import Ticket
from wdp.ops.bench.plan import OP_TIMEOUT, MiB, Plan
from wdp.ops.bench.report import Report, Row, say
from wdp.ops.bench.swarm import (
    PEERS_TIMEOUT,
    PUT_K,
    PUT_N,
    PUTGET_ENV,
    api,
    call_with_deadline,
    healthy_peers,
    wait_until,
)
from wdp.ops.localswarm import LocalSwarm, NodeProcess

FIND_SIZE = 4 * MiB


def timed_get(proc: NodeProcess, ticket: str, digest: str) -> float:
    started = time.perf_counter()
    _, data = call_with_deadline(
        lambda: api(proc).call({"op": "get", "ticket": ticket}), OP_TIMEOUT, "get"
    )
    took = time.perf_counter() - started
    if hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError("get returned different bytes")
    return took


def p50(proc: NodeProcess, ticket: str, digest: str, samples: int) -> tuple[float, list[float]]:
    times = [timed_get(proc, ticket, digest) for _ in range(samples)]
    return statistics.median(times), times


def carriers(swarm: LocalSwarm, ticket: str) -> list[int]:
    """Nodes other than 0 and 1 that hold a shard of the ticket's wanderer."""
    wid = Ticket.decode(ticket).wanderer_id
    held = {n.index for n in swarm.nodes if any(k.wanderer_id == wid for k in n.held())}
    return sorted(held - {0, 1})


def run_find(plan: Plan, base: Path, report: Report) -> None:
    say(f"(e) starting {plan.swarm_nodes} wdp-node processes")
    with LocalSwarm(plan.swarm_nodes, base / "find", env=PUTGET_ENV) as swarm:
        wait_until(
            f"node 0 to see {PUT_N} healthy peers",
            lambda: healthy_peers(swarm.nodes[0]) >= PUT_N, PEERS_TIMEOUT,
        )  # fmt: skip
        payload = os.urandom(FIND_SIZE)
        digest = hashlib.sha256(payload).hexdigest()
        request = {"op": "put", "name": "find", "size": FIND_SIZE, "k": PUT_K, "n": PUT_N}
        answer, _ = call_with_deadline(
            lambda: api(swarm.nodes[0]).call(request, payload), OP_TIMEOUT, "put"
        )
        ticket = answer["ticket"]
        owner, _ = p50(swarm.nodes[0], ticket, digest, plan.find_samples)
        say(f"(e) through the owner, p50 {owner:.2f} s")
        victims = carriers(swarm, ticket)[:3]
        conditions = (("healthy", None), ("stopped", signal.SIGSTOP), ("killed", signal.SIGKILL))
        for key, signum in conditions:
            if signum is not None:
                for v in victims:
                    swarm.nodes[v].send(signum)
            value, times = p50(swarm.nodes[1], ticket, digest, plan.find_samples)
            if signum == signal.SIGSTOP:
                for v in victims:
                    swarm.nodes[v].send(signal.SIGCONT)
            say(f"(e) {key}: p50 {value:.2f} s")
            what = {
                "healthy": "",
                "stopped": f", {len(victims)} of its carriers SIGSTOPped",
                "killed": f", right after {len(victims)} of its carriers were SIGKILLed",
            }[key]
            row = Row(
                key=f"find_{key}",
                what=f"get of a 4 MiB file through a node that did not put it{what} "
                f"(p50 of {plan.find_samples}, {plan.swarm_nodes} nodes)",
                value=value, unit="s", shown=f"{value:.2f} s",
                baseline_what=f"the same get through the owner's node: {owner:.2f} s",
                baseline=owner, ratio=value / owner, ratio_shown=f"{value / owner:.1f}",
                extra={"seconds": times, "victims": victims},
            )  # fmt: skip
            report.rows.append(row)
