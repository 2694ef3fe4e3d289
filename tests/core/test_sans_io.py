"""The core must stay sans-IO: no network, clock, event loop or global randomness."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[2] / "wdp" / "core"
FORBIDDEN = {
    "asyncio", "anyio", "trio", "libp2p", "socket", "ssl", "select", "selectors",
    "time", "datetime", "random", "secrets", "os", "subprocess", "threading",
    "multiprocessing", "http", "urllib", "multiaddr",
}  # fmt: skip


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_io_library() -> None:
    files = [p for p in CORE.rglob("*.py") if "proto" not in p.parts]
    assert len(files) > 10
    offenders = {str(p.relative_to(CORE)): sorted(imported_modules(p) & FORBIDDEN) for p in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_importing_the_core_loads_no_io_library() -> None:
    """Also catches indirect imports (a core module importing a helper that imports trio)."""
    code = (
        "import sys, pkgutil, importlib, wdp.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'wdp.core.'): importlib.import_module(m.name)\n"
        "print(' '.join(sorted(m for m in ('trio', 'anyio', 'asyncio', 'libp2p', 'multiaddr')"
        " if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
