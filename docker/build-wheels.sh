#!/usr/bin/env bash
# Build the wheels the image installs: wdp itself and its runtime dependencies
# (no dev or study extras), into build/wheels/ (not committed).
#
#   docker/build-wheels.sh                 # uses .venv/bin/python, else python3.11
#   PYTHON=/path/to/python3.11 docker/build-wheels.sh
#
# The dependencies are fetched once per change of pyproject.toml (a stamp
# records its hash); the wdp wheel is rebuilt from the checkout every time.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "build-wheels: error: $*" >&2; exit 1; }

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python
  else PYTHON=$(command -v python3.11 || true); fi
fi
[ -n "$PYTHON" ] || die "no Python 3.11 found: run 'make install' or set PYTHON=/path/to/python3.11"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null ||
  die "$PYTHON is not Python 3.11 (the image's Python): set PYTHON=/path/to/python3.11"

OUT=build/wheels
mkdir -p "$OUT"
# Built from a copy of the sources: setuptools' build/ tree in the checkout
# could carry files deleted since into the wheel.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
tar -c --exclude=__pycache__ --exclude='*.pyc' pyproject.toml README.md wdp | tar -x -C "$src"
stamp=$OUT/.deps-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -e "$stamp" ]; then
  echo "build-wheels: dependencies (pyproject.toml changed or first run)"
  rm -f "$OUT"/*.whl "$OUT"/.deps-*
  "$PYTHON" -m pip wheel --quiet --wheel-dir "$OUT" "$src" || die "pip wheel of the dependencies failed (see above)"
  touch "$stamp"
fi
echo "build-wheels: wdp from the checkout"
rm -f "$OUT"/wdp-*.whl
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$OUT" "$src" || die "pip wheel of wdp failed (see above)"
echo "build-wheels: $(ls "$OUT"/*.whl | wc -l) wheels in $OUT"
