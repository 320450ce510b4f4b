"""``python -m cnn_core``: the command line (see cnn_core.cli)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
