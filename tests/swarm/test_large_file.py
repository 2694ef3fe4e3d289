"""A file larger than 512 MiB, put and got back through the `wdp` command on a local swarm of
ten real `wdp-node` processes (disk store), with every process's peak memory bounded.

The file becomes segments (section 19 of the spec), stored and fetched a few at a time,
and comes back in file order into ``FILE.part``, renamed at the end. Peak RSS is the
kernel's ``VmHWM`` of each node (read before it stops) and of each client process (read
while it runs).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wdp.core.ticket import Ticket
from wdp.ops.bench.big import peak_rss, run_wdp, sha256_of, write_random
from wdp.ops.localswarm import LocalSwarm

from .test_put_get import wait_for_peers

pytestmark = [pytest.mark.slow, pytest.mark.trio]

SWARM = 10
MIB = 1 << 20
FILE_SIZE = 513 * MIB + 12345  # over 512 MiB, and not a whole number of segments
RSS_LIMIT = 512 * MIB
TIMEOUT = 900.0


async def test_a_file_over_512_mib_streams_in_and_out_in_bounded_memory(
    swarm_factory, tmp_path: Path
) -> None:
    swarm: LocalSwarm = swarm_factory(SWARM)
    await wait_for_peers(swarm, 0, SWARM - 1)
    src = tmp_path / "big.bin"
    want = write_random(src, FILE_SIZE)

    api = ["--data-dir", str(swarm.nodes[0].data_dir)]
    out, put_s, put_rss = run_wdp(["put", str(src), *api], TIMEOUT)
    ticket = Ticket.decode(out.strip())
    assert ticket.is_file

    dst = tmp_path / "back.bin"
    api = ["--data-dir", str(swarm.nodes[1].data_dir)]  # through a node that did not put it
    _, get_s, get_rss = run_wdp(["get", out.strip(), "-o", str(dst), *api], TIMEOUT)
    assert dst.stat().st_size == FILE_SIZE
    assert sha256_of(dst) == want
    assert not (tmp_path / "back.bin.part").exists()

    rss = {f"node {n.index}": peak_rss(n.pid) for n in swarm.nodes}
    rss |= {"wdp put": put_rss, "wdp get": get_rss}
    print(f"put {put_s:.1f} s ({FILE_SIZE / put_s / 1e6:.1f} MB/s), "
          f"get {get_s:.1f} s ({FILE_SIZE / get_s / 1e6:.1f} MB/s)")  # fmt: skip
    print("peak RSS (MiB):", {k: round(v / MIB) for k, v in rss.items()})
    over = {k: v for k, v in rss.items() if v >= RSS_LIMIT}
    assert not over, f"peak RSS at or over 512 MiB: {over}"
