"""chronicle_cli: takes command lines, gives `chronc`, `chrasm` and `chronicle-vm` with the CLI host's capabilities.

The console scripts are `chronicle_cli.chronc:main`, `chronicle_cli.chrasm:main`
and `chronicle_cli.vm:main` (also `python -m chronicle_cli`); docs/cli.md
describes them.  Importing the package declares the CLI's own error codes.
"""

from __future__ import annotations

from . import codes as codes

__version__ = "0.1.0"
