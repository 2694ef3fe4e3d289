"""The bench report: its rows, Markdown and JSON output, the machine it ran on, formatting.

Also the small measuring helpers every part uses: progress lines on stderr
(:func:`say`), percentiles, MB/s, sizes as text and a process's CPU seconds.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from wdp.ops.bench.plan import MB, KiB, MiB


@dataclass
class Row:
    """One line of the report: a WDP figure, its baseline and their ratio."""

    key: str
    what: str
    value: float
    unit: str
    shown: str
    baseline_what: str = ""
    baseline: float | None = None
    ratio: float | None = None
    ratio_shown: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    machine: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        out = [f"Machine: {machine_line(self.machine)}", ""]
        out += ["| figure | WDP | baseline (same run) | ratio |", "| --- | --- | --- | --- |"]
        for r in self.rows:
            out.append(
                f"| {r.what} | {r.shown} | {r.baseline_what or '-'} | {r.ratio_shown or '-'} |"
            )
        if self.notes or self.failed:
            out.append("")
        out += [f"- {n}" for n in self.notes]
        out += [f"- FAILED: {f}" for f in self.failed]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "rows": [asdict(r) for r in self.rows],
            "notes": self.notes,
            "failed": self.failed,
        }


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- machine ------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine_info() -> dict[str, Any]:
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 0
    try:
        libp2p_version = metadata.version("libp2p")
    except metadata.PackageNotFoundError:  # pragma: no cover
        libp2p_version = "?"
    return {
        "nproc": nproc,
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "libp2p": libp2p_version,
        "loadavg_start": loadavg(),
    }


def machine_line(m: dict[str, Any]) -> str:
    line = f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, py-libp2p {m['libp2p']}"
    line += f"; load average {m['loadavg_start']} at start"
    if "loadavg_end" in m:
        line += f", {m['loadavg_end']} at end"
    return line


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from /proc (0.0 if unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# ---- small helpers ------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def mbps(size: int, seconds: float) -> float:
    return size / seconds / MB


def fmt_size(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    return f"{n // KiB} KiB"
