"""The Prometheus endpoint is opt-in: without --metrics the node never loads wdp.node.metrics.

wdp.node.metrics is the one module of the project that imports
``prometheus_client``; the counters the node keeps live in wdp.node.stats.
(libp2p 0.8.1 itself imports ``prometheus_client`` for its resource manager,
so a process that has loaded libp2p holds it whatever WDP does; the checks
here are on WDP's own modules.)
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import wdp

WDP_ROOT = Path(wdp.__file__).parent


def run_python(code: str) -> dict[str, bool]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_daemon_without_metrics_does_not_load_the_metrics_module(tmp_path: Path) -> None:
    loaded = run_python(
        f"""
        import json, sys
        from wdp.node.cli import app  # the wdp-node command
        from wdp.node.daemon import build_config
        from wdp.node.identity import load_or_create_identity
        from wdp.node.settings import load_settings

        settings = load_settings(None, {{"data_dir": {str(tmp_path)!r}}}, environ={{}})
        assert settings.metrics is None
        build_config(settings, load_or_create_identity(settings.data_dir))
        print(json.dumps({{"metrics": "wdp.node.metrics" in sys.modules,
                          "stats": "wdp.node.stats" in sys.modules}}))
        """
    )
    assert loaded == {"metrics": False, "stats": True}


def test_modules_without_libp2p_do_not_import_prometheus_client() -> None:
    loaded = run_python(
        """
        import json, sys
        import wdp.client.cli, wdp.node.cli, wdp.node.hostport, wdp.node.settings, wdp.node.stats

        print(json.dumps({"prometheus_client": "prometheus_client" in sys.modules,
                          "libp2p": "libp2p" in sys.modules}))
        """
    )
    assert loaded == {"prometheus_client": False, "libp2p": False}


def test_only_the_metrics_module_imports_prometheus_client() -> None:
    importers = set()
    for path in WDP_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] == "prometheus_client" for name in names):
                importers.add(path.relative_to(WDP_ROOT).as_posix())
    assert importers == {"node/metrics.py"}
