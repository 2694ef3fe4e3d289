"""The container image and a compose cluster of real wdp-node containers.

Builds the image from this checkout on a base made without any registry,
starts bootstrap + 6 nodes, checks the swarm, the user, the identity across a
restart, the published API, then runs the chaos (kill 30 % of the carriers,
pause and disconnect others) and gets every file back byte for byte.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import NODES, Cluster, Image, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IMAGE_UID = "10001"
CHAOS_TIMEOUT = 300.0


def wait_until(what: str, predicate, timeout: float, cluster: Cluster | None = None) -> None:
    """Poll a condition across containers (no event to wait on) with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (AssertionError, ValueError, subprocess.TimeoutExpired):
            pass
        if time.monotonic() > deadline:
            logs = cluster.logs() if cluster else ""
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}\n{logs}")
        time.sleep(1.0)


@pytest.mark.timeout(1200)  # includes the session's image build: debootstrap when cold
def test_image_builds_without_a_registry(image: Image) -> None:
    info = json.loads(run(["docker", "image", "inspect", image.tag], timeout=30).stdout)[0]
    config = info["Config"]
    assert config["User"] == "wdp"
    assert "/data" in config["Volumes"]
    assert config["Healthcheck"]["Test"][-2:] == ["wdp-entrypoint", "health"]
    # The base is local: the script's output names it, and nothing was pulled.
    assert "from wdp-base:" in image.build_output or "python:3.11-slim" in image.build_output
    # The node runs inside with no network at all (nothing left to download).
    done = run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "wdp-node", image.tag,
         "--help"],
        timeout=60,
    )  # fmt: skip
    assert "--api-listen" in done.stdout
    print(f"image {image.tag} built in {image.build_seconds:.0f} s")


def test_containers_run_as_non_root(cluster: Cluster) -> None:
    names = cluster.containers()
    assert len(names) == NODES + 1
    for name in names:
        assert cluster.exec(name, "id", "-u").strip() == IMAGE_UID, name
        owner = cluster.exec(name, "stat", "-c", "%u %a", "/data/identity.key").split()
        assert owner == [IMAGE_UID, "600"], (name, owner)


def test_cluster_forms_a_swarm(cluster: Cluster) -> None:
    names = cluster.containers()
    peers = {name: cluster.status(name)["peer_id"] for name in names}
    assert len(set(peers.values())) == len(names)  # every container its own identity
    for name in names:
        status = cluster.status(name)
        healthy = [p for p in status["peers"] if p["healthy"]]
        assert healthy, f"{name} has no healthy peer: {status['peers']}"
        health = run(["docker", "inspect", "-f", "{{.State.Health.Status}}", name], timeout=30)
        assert health.stdout.strip() == "healthy", name
    (bootstrap,) = cluster.containers("bootstrap")
    wait_until(
        f"the bootstrap to see all {NODES} nodes",
        lambda: len(cluster.status(bootstrap)["peers"]) >= NODES,
        60,
        cluster,
    )


def test_host_client_reaches_published_api_with_token_only(cluster: Cluster) -> None:
    address = cluster.script("api").strip()
    assert address.startswith("127.0.0.1:")
    token = cluster.script("token").strip()
    wdp = [sys.executable, "-m", "wdp.client.cli", "status", "--json", "--api", address]
    done = run(wdp, timeout=60, env={"WDP_API_TOKEN": token})
    (bootstrap,) = cluster.containers("bootstrap")
    assert json.loads(done.stdout)["peer_id"] == cluster.status(bootstrap)["peer_id"]
    refused = run(wdp, timeout=60, env={"WDP_API_TOKEN": "not-the-token-at-all"}, check=False)
    assert refused.returncode == 1 and "unauthorised" in refused.stderr
    metrics_at = run(["docker", "port", bootstrap, "9464/tcp"], timeout=30).stdout.split()[0]
    with urllib.request.urlopen(f"http://{metrics_at}/metrics", timeout=30) as r:
        body = r.read().decode()
    assert "wdp_healthy_peers" in body
    # The dashboard, published on loopback, serves its data only with the token.
    link = cluster.script("dashboard").strip()
    url, _, given = link.partition("#token=")
    assert url.startswith("http://127.0.0.1:") and given == token
    with pytest.raises(urllib.error.HTTPError) as refused_page:
        urllib.request.urlopen(url + "api/state", timeout=30)
    assert refused_page.value.code == 401
    request = urllib.request.Request(
        url + "api/state", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        assert json.loads(r.read())["peer_id"] == cluster.status(bootstrap)["peer_id"]


def test_identity_survives_a_restart(cluster: Cluster) -> None:
    name = cluster.containers("node")[0]
    before = cluster.status(name)["peer_id"]
    run(["docker", "restart", "--time", "20", name], timeout=120)
    wait_until(
        f"{name} to answer again with a healthy peer",
        lambda: any(p["healthy"] for p in cluster.status(name)["peers"]),
        90,
        cluster,
    )
    assert cluster.status(name)["peer_id"] == before


def test_chaos_gets_every_file_back(cluster: Cluster) -> None:
    started = time.monotonic()
    done = run(
        ["docker/cluster.sh", "chaos", "--seed", "7", "--timeout", str(CHAOS_TIMEOUT)],
        timeout=CHAOS_TIMEOUT + 60,
        env=cluster.env,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"chaos failed:\n{output}\n{cluster.logs()}"
    assert "CHAOS PASSED: 4/4 files byte-identical after killing 2, pausing 1 and " \
        "disconnecting 1 container(s)" in output, output  # fmt: skip
    # Everything paused or disconnected is back: only the killed ones are gone.
    assert len(cluster.containers()) == NODES + 1 - 2
    paused = run(["docker", "ps", "-q", "--filter", "status=paused", "--filter",
                  f"label=com.docker.compose.project={cluster.project}"], timeout=30)  # fmt: skip
    assert paused.stdout.strip() == ""
    print(output)
    print(f"chaos took {time.monotonic() - started:.0f} s")
