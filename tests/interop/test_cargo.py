"""``cargo test`` (the README's one test command: the spec's vectors and the
Rust state machines) runs as part of the interop suite."""

from __future__ import annotations

import subprocess

import pytest

from .rustpeer import CRATE, cargo, cargo_env

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_cargo_test_passes(rust_peer_bin, tmp_path):
    exe = cargo()
    assert exe is not None  # rust_peer_bin skipped otherwise
    log = tmp_path / "cargo-test.log"
    with open(log, "wb") as out:
        done = subprocess.run(
            [exe, "test"],
            cwd=CRATE, env=cargo_env(), stdout=out, stderr=subprocess.STDOUT,
            timeout=1800, check=False,
        )  # fmt: skip
    text = log.read_text(errors="replace")
    assert done.returncode == 0, f"cargo test failed ({done.returncode}):\n{text[-6000:]}"
    assert "test result: ok" in text, text[-3000:]
