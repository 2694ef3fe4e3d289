import sys

from .testbed import main

if __name__ == "__main__":
    sys.exit(main())
