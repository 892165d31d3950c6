"""``python -m recipes``: see ``recipes/cli.py``."""

import sys

from recipes.cli import main

if __name__ == "__main__":
    sys.exit(main())
