"""Tables end with a newline: the text after them starts on its own line.

rich's Live, writing to a file or a pipe (``make demo > out``), prints only its
last frame and no newline after it; the demo's tables ran into the next line.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import wdp.client.cli as wdp_cli
from wdp.ops import demo

WHERE = {0: (3, 2, "TTL"), 1: (4, 1, "REPAIR"), 5: (7, 0, "THREAT")}


@pytest.mark.parametrize("terminal", [False, True])
def test_demo_table_then_text_on_its_own_line(monkeypatch, terminal: bool) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=terminal, color_system=None)
    monkeypatch.setattr(demo, "console", console)
    monkeypatch.setattr(demo, "placement", lambda swarm, wid: WHERE)
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)
    title = "after the seizure: repair rebuilds lost shards"
    where = demo.watch(None, "w", 0.05, title, {2, 9})  # type: ignore[arg-type]
    console.print("Seizing 3 carriers")
    assert where == WHERE
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())  # cursor hide/show
    assert "seized: node 2, node 9" in text
    assert title in text  # on one line, not wrapped to the table's width
    bottom = text.rindex("┘")
    assert text[bottom:].startswith("┘\n"), text[bottom:]
    assert "\nSeizing 3 carriers\n" in text


class FakeClient:
    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers

    def call(self, request: dict[str, Any], *args: Any, **kwargs: Any) -> tuple[dict, bytes]:
        return {"ok": True, **self.answers[request["op"]]}, b""


STATUS = {
    "peer_id": "12D3KooWtest", "addrs": [], "threat_level": 1, "threat_reasons": ["lost peers"],
    "peers": [{"peer": "ab" * 8, "ipv4": "10.0.0.2", "loss": 0.0, "rtt_ms": 0.4, "healthy": True,
               "proven": True, "excluded": False,
               "audits": {"proved": 5, "moved": 1, "failed": 0, "unanswered": 0,
                          "last_failure": ""}},
              {"peer": "ef" * 8, "ipv4": "10.1.0.2", "loss": 0.0, "rtt_ms": 0.5, "healthy": True,
               "proven": False, "excluded": True, "distrusted": True,
               "audits": {"proved": 1, "moved": 0, "failed": 2, "unanswered": 0,
                          "last_failure": "NOT_HELD"}}],
    "held": [{"shard": "cd" * 8 + "/3", "hop": 2, "reason": "TTL", "next_hop_in": 12.5}],
    "recent_hops": [{"ok": True, "code": None, "detail": "handed shard 3 to ab"},
                    {"ok": False, "code": "CAPACITY", "detail": "refused by ef"}],
    "hops_in": 4, "hops_out": 3,
    "audits": {"answered": 7, "refused": 1, "passed": 6, "failed": {"NOT_HELD": 2},
               "spot_passed": 9, "spot_failed": 1},
    "excluded_peers": ["ef" * 8],
}  # fmt: skip
LS = {
    "wanderers": [{"id": "ab" * 8, "name": "notes.txt", "size": 1234, "k": 3, "n": 8,
                   "created_at": 0.0, "generations": [0] * 8, "ticket": "wdp1secret"}]
}  # fmt: skip


def run_wdp(monkeypatch, *args: str) -> str:
    fake = FakeClient({"status": STATUS, "ls": LS})
    monkeypatch.setattr(wdp_cli, "client", lambda *a, **k: fake)
    result = CliRunner().invoke(wdp_cli.app, list(args), env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_status_tables_end_before_the_next_text(monkeypatch) -> None:
    text = run_wdp(monkeypatch, "status")
    assert text.count("┘\n") == 2  # peers, shards held
    assert "┘\nok handed shard 3 to ab\nfailed CAPACITY refused by ef\n" in text
    peers_end = text.index("┘\n")
    assert text[peers_end + 2 :].lstrip(" ").startswith("shards held")


def test_status_shows_audits_and_trust(monkeypatch) -> None:
    text = run_wdp(monkeypatch, "status")
    assert "audits answered 7, refused 1; audits of our shards: passed 6, failed NOT_HELD 2" in text
    assert "spot audits of peers we handed shards: passed 9, failed 1" in text
    good = next(line for line in text.splitlines() if "ab" * 8 in line)
    bad = next(line for line in text.splitlines() if "ef" * 8 in line)
    assert "│ yes" in good and "5 ok, 1 moved, 0 lost, 0 silent" in good
    assert "│ no" in bad and "DISTRUSTED EXCLUDED 1 ok" in bad


def test_ls_table_ends_before_the_tickets(monkeypatch) -> None:
    text = run_wdp(monkeypatch, "ls", "--tickets")
    assert "┘\nnotes.txt wdp1secret\n" in text
    assert text.endswith("\n")
