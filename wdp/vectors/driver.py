"""Generate every vector file, write them, or check them against the files on disk."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wdp.vectors.audit import audit_file
from wdp.vectors.audit_scenario import audit_scenario
from wdp.vectors.capability import capability_file
from wdp.vectors.crypto import crypto_file
from wdp.vectors.custody import custody_file
from wdp.vectors.erasure import erasure_file
from wdp.vectors.fetch import fetch_file
from wdp.vectors.handoff import handoff_file
from wdp.vectors.keys import keys_file
from wdp.vectors.locator import locator_file
from wdp.vectors.manifest_v2 import manifest_v2_file
from wdp.vectors.messages import messages_file
from wdp.vectors.objects import objects_file
from wdp.vectors.scenario import chain_scenario
from wdp.vectors.segments import segments_file
from wdp.vectors.signing import signing_file

DESCRIPTION = "Versioned test vectors of the WDP v1 wire format, generated from fixed seeds."
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "protocols" / "vectors" / "v1"


def generate() -> dict[str, str]:
    """Every vector file: name -> exact text."""
    scenario = chain_scenario()
    return {
        "keys.json": keys_file(),
        "signing.json": signing_file(),
        "crypto.json": crypto_file(),
        "erasure.json": erasure_file(),
        "objects.json": objects_file(scenario),
        "messages.json": messages_file(scenario),
        "custody.json": custody_file(scenario),
        "locator.json": locator_file(scenario),
        "handoff.json": handoff_file(scenario),
        "fetch.json": fetch_file(scenario),
        "manifest-v2.json": manifest_v2_file(),
        "audit.json": audit_file(audit_scenario()),
        "segments.json": segments_file(),
        "capability.json": capability_file(),
    }


def check(out: Path = DEFAULT_OUT) -> list[str]:
    """Problems between the generated vectors and ``out``: one line per file."""
    problems = []
    files = generate()
    for name, text in files.items():
        path = out / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != text.encode():
            problems.append(f"{path}: differs from the generator")
    if out.is_dir():
        for path in sorted(out.glob("*.json")):
            if path.name not in files:
                problems.append(f"{path}: not produced by the generator")
    return problems


def write(out: Path = DEFAULT_OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = out / name
        path.write_bytes(text.encode())
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wdp.vectors", description=DESCRIPTION)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="compare with the files on disk instead of writing"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("test vectors are stale: run `python -m wdp.vectors`", file=sys.stderr)
            return 1
        print(f"test vectors in {args.out} are up to date")
        return 0
    for path in write(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0
