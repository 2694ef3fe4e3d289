"""A test-only black hole: a real ``wdp-node`` whose core signs receipts and discards shards.

It runs the simulator's :class:`~wdp.sim.attackers.Dropper` (the node core
with one rule bent: it admits every offer, makes its receipt durable and
sends it, then wipes the shard and never takes custody) inside the real
daemon, and logs each drop on stderr as ``black hole: dropped <wanderer id>
<shard> <generation> at <time>`` so tests can time the repair. Never shipped:
it lives with the tests and takes ``wdp-node``'s arguments.
"""

from __future__ import annotations

import sys

import wdp.node.node
from wdp.core.effects import StoreShard
from wdp.core.node import NodeEffect
from wdp.core.objects import CustodyLink
from wdp.node.cli import run
from wdp.sim.attackers import Dropper


class LoggingDropper(Dropper):
    def _take_custody(self, stored: StoreShard, link: CustodyLink, now: float) -> list[NodeEffect]:
        rec = link.record.value
        print(
            f"black hole: dropped {rec.wanderer_id.hex()} {rec.shard_index} {rec.generation} "
            f"at {now:.3f}",
            file=sys.stderr,
            flush=True,
        )
        return super()._take_custody(stored, link, now)


if __name__ == "__main__":
    wdp.node.node.NodeCore = LoggingDropper  # type: ignore[misc]
    run()
