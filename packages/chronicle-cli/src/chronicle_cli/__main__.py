"""`python -m chronicle_cli ...`: takes the same arguments as `chronicle-vm`, gives its exit code."""

from __future__ import annotations

import sys

from .vm import main

if __name__ == "__main__":
    sys.exit(main())
