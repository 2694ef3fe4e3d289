"""Versioned test vectors of the WDP v1 wire format, generated from fixed seeds.

``python -m wdp.vectors [--out DIR] [--check]`` (``make vectors``, ``make
vectors-check``) writes the JSON files of ``protocols/vectors/v1/``; ``--check``
regenerates them in memory and exits non-zero, naming every file that differs
from the one on disk.

Every value comes from the Python core (``wdp.core``) run on fixed seeds and a
fixed clock, so the output is byte-identical on every run. Conventions shared
by all files: bytes are lowercase hex strings, enums are their names in
``protocols/wdp.proto`` (without prefix), times are integer Unix milliseconds,
there are no floats. Each file is ``{"version": 1, "description": ..., "cases":
[{"name": ..., ...}, ...]}``.

One module builds each file (``keys``, ``signing``, ``crypto``, ``erasure``,
``objects``, ``messages``, ``custody``, ``locator``, ``handoff``, ``fetch``);
``driver`` puts them together.
"""

from wdp.vectors.driver import DEFAULT_OUT, check, generate, main, write

__all__ = ["DEFAULT_OUT", "check", "generate", "main", "write"]
