"""``python -m synthkit ...``: the same command line as ``synthkit ...``."""
import sys

from synthkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
