"""Entry point reserved for the `wdp` command."""

from __future__ import annotations

import sys


def main() -> None:
    print(
        "wdp: not available in this version; "
        "only the protocol core (wdp.core) is built so far. See README.md, 'Status'.",
        file=sys.stderr,
    )
    sys.exit(2)
