"""``make bench``: what WDP costs next to what the same machine does without it.

Every figure is printed next to a baseline measured in the same run:

(a) handoff throughput for 1, 16 and 64 MiB shards from this process's
    in-process :class:`~wdp.node.node.Node` (the owner's hop 0 of a k=1, n=1
    wanderer) to a second process running a node
    (:mod:`wdp.ops.bench.peer`), next to a raw py-libp2p stream of the
    same size between the same two hosts (same Noise and Yamux), written in
    1 MiB writes and acknowledged by the peer; the median of a few runs each;
(b) the latency of a 4 KiB handoff, p50 and p99, next to the libp2p ping
    round trip timed with ``perf_counter`` on the same pair;
(c) put and get of a large file on a 10-node :class:`LocalSwarm` (put through
    node 0's local API, get through node 1's), next to the raw stream figure;
(d) how long a node holding 200 shards of 256 KiB takes to evacuate and exit
    after a panic (SIGUSR1), and how many shards left vs were wiped;
(e) a 4 MiB get through a node that did not put the file, p50 of 10, healthy,
    with 3 carriers SIGSTOPped and right after 3 are SIGKILLed, next to the
    same get through the owner's node;
(f) a 4 GiB file put and got back with the ``wdp`` command (disk store), with
    every process's peak RSS, next to the raw stream figure (about 6 minutes
    and 20 GiB of disk; ``--skip big`` leaves it out);
(g) what the dashboard costs a node: idle with nobody watching, and with one
    viewer, next to nodes without it in the same window.

The report goes to stdout as a Markdown table (``--json FILE`` also writes it
as JSON); progress goes to stderr. Everything runs on 127.0.0.1, every wait
is bounded, and every process started here is stopped, also on failure.
``--quick`` runs a reduced version (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from wdp.ops.bench.big import run_big
from wdp.ops.bench.dashboard import run_dashboard
from wdp.ops.bench.find import run_find
from wdp.ops.bench.pair import run_pair
from wdp.ops.bench.panic import run_evacuation
from wdp.ops.bench.plan import QUICK, Plan
from wdp.ops.bench.report import Report, loadavg, machine_info, machine_line, say
from wdp.ops.bench.swarm import PANIC_ENV, PUTGET_ENV, run_put_get

SECTIONS: tuple[tuple[str, Callable[[Plan, Path, Report], None]], ...] = (
    ("pair", run_pair),
    ("putget", run_put_get),
    ("panic", run_evacuation),
    ("find", run_find),
    ("dashboard", run_dashboard),
    ("big", run_big),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.ops.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a reduced run (smoke test)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the logs directory")
    parser.add_argument(
        "--only",
        choices=[name for name, _ in SECTIONS],
        action="append",
        help="run only this part (repeatable): pair = (a) and (b), putget = (c), panic = (d), "
        "find = (e), dashboard = (g), big = (f)",
    )
    parser.add_argument(
        "--skip",
        choices=[name for name, _ in SECTIONS],
        action="append",
        help="leave this part out",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # py-libp2p logs routine events (a peer closing a connection) at WARNING or ERROR.
    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    plan = QUICK if args.quick else Plan()
    report = Report(machine_info())
    report.machine["settings"] = {
        "plan": asdict(plan), "putget_env": PUTGET_ENV, "panic_env": PANIC_ENV,
    }  # fmt: skip
    say(f"machine: {machine_line(report.machine)}")
    base = Path(tempfile.mkdtemp(prefix="wdp-bench-"))
    say(f"logs in {base}")
    started = time.monotonic()
    for name, section in SECTIONS:
        if (args.only and name not in args.only) or name in (args.skip or []):
            continue
        try:
            section(plan, base, report)
        except Exception as exc:
            say(f"{name} failed: {exc!r}")
            report.failed.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
    report.machine["loadavg_end"] = loadavg()
    report.machine["seconds"] = round(time.monotonic() - started, 1)
    report.notes.append(f"whole run: {report.machine['seconds']:.0f} s")
    print(report.markdown(), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if not args.keep and not report.failed:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    elif report.failed:
        say(f"logs kept in {base}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
