"""The worker pool: a list of jobs computed a few at a time in fresh worker processes."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Sequence


def side_by_side(fn: Callable[[Any], Any], items: Sequence[Any], workers: int,
                 initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> list[Any]:
    """``[fn(item) for item in items]``, computed ``workers`` at a time in fresh (spawned)
    worker processes, each set up by ``initializer(*initargs)``; results in ``items`` order."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
        return list(pool.map(fn, items))
