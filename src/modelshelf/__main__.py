"""``python -m modelshelf``: the same command as ``modelshelf``."""

from modelshelf.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
