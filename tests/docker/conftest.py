"""Fixtures for the Docker tests: the image built from this checkout and a compose cluster.

Every run gets its own image tag and compose project name (so a user's own
``wdp`` cluster is never touched) and ephemeral host ports; the cluster is torn
down, volumes included, even when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODES = 6  # plus the bootstrap: 7 containers (2 cores: keep it at that)
BUILD_TIMEOUT = 900.0  # a cold build runs debootstrap and fetches the wheels
UP_TIMEOUT = 300.0


def run(
    args: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    check: bool = True,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run a command from the checkout; on failure the assertion shows its output."""
    merged = {**os.environ, **(env or {})}
    for name in unset:
        merged.pop(name, None)
    done = subprocess.run(
        args,
        cwd=ROOT,
        env=merged,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert done.returncode == 0, (
            f"{' '.join(args)} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )
    return done


def docker_engine_problem() -> str | None:
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"no Docker engine: {exc}"
    if done.returncode != 0:
        return f"no Docker engine ('docker info' failed: {done.stderr.strip()[:200]})"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = docker_engine_problem()
    if problem:
        pytest.skip(problem)


@dataclass
class Image:
    tag: str
    build_seconds: float
    build_output: str


@pytest.fixture(scope="session")
def image(docker_engine: None) -> Iterator[Image]:
    """The wdp-node image built from this checkout, on a base made without a registry."""
    tag = f"wdp-node:test-{uuid.uuid4().hex[:10]}"
    env = {"WDP_IMAGE": tag, "PYTHON": sys.executable}
    started = time.monotonic()
    try:
        # No WDP_BASE: the script picks a local base, made by docker/build-base.sh.
        done = run(["docker/build-image.sh"], timeout=BUILD_TIMEOUT, env=env, unset=("WDP_BASE",))
        yield Image(tag, time.monotonic() - started, done.stdout + done.stderr)
    finally:
        run(["docker", "image", "rm", tag], timeout=60, check=False)


@dataclass
class Cluster:
    project: str
    env: dict[str, str]

    def script(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        return run(["docker/cluster.sh", *args], timeout=timeout, env=self.env, check=check).stdout

    def containers(self, service: str | None = None) -> list[str]:
        """Names of the project's running containers (optionally of one service)."""
        label = [f"label=com.docker.compose.project={self.project}"]
        if service:
            label.append(f"label=com.docker.compose.service={service}")
        args = ["docker", "ps", "--format", "{{.Names}}"]
        for f in label:
            args += ["--filter", f]
        return sorted(run(args, timeout=30).stdout.split())

    def exec(self, container: str, *args: str, timeout: float = 60.0) -> str:
        return run(["docker", "exec", container, *args], timeout=timeout).stdout

    def status(self, container: str) -> dict:
        return json.loads(self.exec(container, "wdp", "status", "--json"))

    def logs(self) -> str:
        done = run(["docker/cluster.sh", "logs", "--tail", "40"], timeout=60, env=self.env,
                   check=False)  # fmt: skip
        return done.stdout[-6000:]


@pytest.fixture(scope="module")
def cluster(image: Image) -> Iterator[Cluster]:
    """bootstrap + NODES nodes under a unique project name; always torn down."""
    project = f"wdptest{uuid.uuid4().hex[:8]}"
    env = {
        "WDP_PROJECT": project,
        "WDP_IMAGE": image.tag,
        "WDP_API_PUBLISH": "127.0.0.1:",  # ephemeral host ports, on loopback only
        "WDP_METRICS_PUBLISH": "127.0.0.1:",
        "WDP_DASHBOARD_PUBLISH": "127.0.0.1:",
        "PYTHON": sys.executable,
    }
    c = Cluster(project, env)
    try:
        c.script("up", str(NODES), timeout=UP_TIMEOUT)
        yield c
    finally:
        run(["docker/cluster.sh", "down"], timeout=180, env=env, check=False)
        # Whatever compose could not remove (it failed half-way): by hand, by label.
        label = f"label=com.docker.compose.project={project}"
        for kind, listing in (("container", ["ps", "-aq"]), ("network", ["network", "ls", "-q"]),
                              ("volume", ["volume", "ls", "-q"])):  # fmt: skip
            left = run(["docker", *listing, "--filter", label], timeout=30, check=False)
            if left.stdout.strip():
                rm = ["rm", "-fv"] if kind == "container" else [kind, "rm"]
                run(["docker", *rm, *left.stdout.split()], timeout=120, check=False)
