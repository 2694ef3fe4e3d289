#!/usr/bin/env python3
"""The container's entry point: find the bootstrap, then become ``wdp-node``.

Installed in the image as ``/usr/local/bin/wdp-entrypoint``.

* ``wdp-entrypoint [wdp-node options]`` runs the node. With
  ``WDP_SWARM_PUBLISH=FILE`` (the bootstrap) it first writes its own peer id,
  derived from the identity key in the data directory, to FILE on a volume it
  shares with the other nodes. With ``WDP_SWARM_JOIN=FILE`` and
  ``WDP_SWARM_BOOTSTRAP_HOST=NAME`` (every other node) it waits for FILE,
  resolves NAME and passes ``--bootstrap /ip4/<ip>/tcp/<port>/p2p/<id>``.
  With ``WDP_SWARM_LISTEN_PORT=PORT`` (the image sets 4001) and no listen
  address of the user's (``--listen`` or ``WDP_LISTEN``), it listens on
  ``/ip4/0.0.0.0/tcp/PORT``, every network the container is on; the node
  advertises the container's own addresses in its place (loopback last).
  Then it replaces itself with ``wdp-node``, which gets the signals.
* ``wdp-entrypoint health`` is the health check: the node answers on its
  local API and has at least one healthy peer (exit 0), or not (exit 1).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

JOIN_TIMEOUT = 120.0  # how long a node waits for the bootstrap's peer id
POLL = 0.5


def data_dir() -> Path:
    return Path(os.environ.get("WDP_DATA_DIR", "/data"))


def publish_peer_id(target: Path) -> str:
    """Write this node's peer id to ``target`` (atomically) and return it."""
    from libp2p.peer.id import ID

    from wdp.node.host import identity_keypair
    from wdp.node.identity import load_or_create_identity

    seed = load_or_create_identity(data_dir())
    peer_id = str(ID.from_pubkey(identity_keypair(seed).public_key))
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(peer_id + "\n")
    os.replace(tmp, target)
    return peer_id


def bootstrap_addr(source: Path, host: str, port: int) -> str:
    """The bootstrap's multiaddr, once it has published its peer id (bounded wait)."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while True:
        try:
            peer_id = source.read_text().strip()
            ip = socket.gethostbyname(host)
            if peer_id:
                return f"/ip4/{ip}/tcp/{port}/p2p/{peer_id}"
        except (FileNotFoundError, socket.gaierror):
            pass
        if time.monotonic() > deadline:
            sys.exit(
                f"wdp-entrypoint: error: the bootstrap {host!r} did not publish its peer id "
                f"in {source} within {JOIN_TIMEOUT:.0f} s: is the bootstrap service running?"
            )
        time.sleep(POLL)


def health() -> int:
    from wdp.client.api import ApiClient, ClientError

    try:
        status, _ = ApiClient(data_dir() / "api.sock").call({"op": "status"})
    except (ClientError, OSError, ValueError) as exc:
        print(f"unhealthy: the local API does not answer: {exc}")
        return 1
    healthy = [p for p in status.get("peers", []) if p.get("healthy")]
    if not healthy:
        print(f"unhealthy: no healthy peer ({len(status.get('peers', []))} known)")
        return 1
    print(f"healthy: {len(healthy)} healthy peer(s)")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["health"]:
        return health()
    args = list(argv)
    listen_port = os.environ.get("WDP_SWARM_LISTEN_PORT")
    own_listen = "WDP_LISTEN" in os.environ or any(
        a in ("--listen", "-l") or a.startswith("--listen=") for a in args
    )
    if listen_port and not own_listen:
        args += ["--listen", f"/ip4/0.0.0.0/tcp/{int(listen_port)}"]
    publish = os.environ.get("WDP_SWARM_PUBLISH")
    if publish:
        peer_id = publish_peer_id(Path(publish))
        print(f"wdp-entrypoint: published peer id {peer_id} to {publish}", flush=True)
    join = os.environ.get("WDP_SWARM_JOIN")
    if join:
        host = os.environ.get("WDP_SWARM_BOOTSTRAP_HOST", "bootstrap")
        port = int(os.environ.get("WDP_SWARM_BOOTSTRAP_PORT", "4001"))
        addr = bootstrap_addr(Path(join), host, port)
        print(f"wdp-entrypoint: joining through {addr}", flush=True)
        args += ["--bootstrap", addr]
    os.execvp("wdp-node", ["wdp-node", *args])
    return 127  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
