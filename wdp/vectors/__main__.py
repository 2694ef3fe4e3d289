"""``python -m wdp.vectors [--out DIR] [--check]``: write or check the test vectors."""

import sys

from wdp.vectors import main

if __name__ == "__main__":
    sys.exit(main())
