"""`python -m cbir.cli ...`: the `cbir` command line."""

import sys

from cbir.cli import main

if __name__ == "__main__":
    sys.exit(main())
