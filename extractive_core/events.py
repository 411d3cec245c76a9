"""The event log of the caches: what they did in this process (``STATS``, printed by the
notebooks and recorded with every result), and one JSON line per event appended to
``$EXTRACTIVE_RUN_STATS`` when that names a file (the main job's per-notebook time table)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .settings import run_stats_file


@dataclass
class CacheStats:
    """What the run cache did in this process."""

    hits: int = 0
    misses: int = 0
    seconds_saved: float = 0.0


STATS = CacheStats()


def record(event: str, label: str, seconds: float = 0.0) -> None:
    """Append a cache event (``run_hit``, ``pretrain_shipped``, ...) to ``$EXTRACTIVE_RUN_STATS``,
    when that variable is set."""
    path = run_stats_file()
    if path is not None:
        with open(path, "a") as f:
            f.write(json.dumps({"event": event, "label": label, "seconds": round(seconds, 2)}) + "\n")
