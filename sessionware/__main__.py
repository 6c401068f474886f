"""``python -m sessionware``: see :mod:`sessionware.cli`."""

from __future__ import annotations

import sys

from sessionware.cli import main

if __name__ == "__main__":
    sys.exit(main())
