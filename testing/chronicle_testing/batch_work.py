"""Work contexts for the executor tests: picklable, importable in worker processes (`testing` is on their path)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from chronicle_cli.batch import Chunk


@dataclass(frozen=True, slots=True)
class SquareContext:
    """Squares each item's integer; the process running the chunk that starts at `kill_at` dies on the spot.

    With `kill_once` (a file path), only the first process to run that chunk dies (it leaves the file behind).
    """

    kill_at: int | None = None
    kill_once: str | None = None
    key: str = "square"

    def run(self, chunk: Chunk) -> list[dict[str, Any]]:
        if chunk.start == self.kill_at:
            if self.kill_once is not None:
                try:
                    os.close(os.open(self.kill_once, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return self._squares(chunk)
            os._exit(9)  # as the kernel's OOM killer would: no exception, no cleanup
        return self._squares(chunk)

    @staticmethod
    def _squares(chunk: Chunk) -> list[dict[str, Any]]:
        return [{"row": chunk.start + i, "value": int(item) ** 2} for i, item in enumerate(chunk.items)]  # type: ignore[arg-type]
