"""``python -m crossscale_ext ...`` is the ``crossscale`` command line."""

import sys

from crossscale_ext.cli import main

if __name__ == "__main__":
    sys.exit(main())
