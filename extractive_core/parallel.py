"""Seeds side by side for the toy models: each seed's finetuning runs in a worker process
on one thread, filling the run cache, before the experiment runs in this process and finds
every run there.

A toy model's run is bound by per-step overhead, not arithmetic: on 2 cores one run took
0.81 s on one thread and 0.83 s on two. So two processes on one thread each do more than one
process on two: the toy model's grafting experiment, 4 seeds, took 93.7 s in one process and
56.1 s with two workers (x1.67, measured on a 2-core AMD EPYC). The experiment itself then runs here, on one thread as
well (the thread count is part of a run's cache key), and recomputes only what the cache
does not hold (evaluations, scores), which for a toy model takes seconds. What is computed
is unchanged: the workers train exactly the runs the experiment would train, with the same
specs. A pretrained LM gains nothing from this (its matmuls already use both cores), so
for any model other than a toy model on the CPU this does nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .errors import ParameterError
from .models import load_model
from .params import check_seeds, load_params
from .pool import side_by_side
from .pretrain import is_cached, pretrained, toy_config
from .settings import default_threads

# An experiment and its keyword arguments; a ``seeds`` entry among them limits the job to
# those seeds (e.g. a band map over fewer seeds than the table beside it).
Job = tuple[Callable[..., Any], dict[str, Any]]

_WORKER_MODEL: Any = None


def workers_for(name: str, seeds: Sequence[int], device: str | None = None, workers: int | None = None) -> int:
    """How many seed workers ``prefetch_seeds`` would start: 0 unless ``name`` is a toy model
    run on the CPU with at least two seeds; else ``workers`` (None: ``$EXTRACTIVE_THREADS``,
    else one per core), at most one per seed."""
    if load_params(name).source != "toyworld" or device not in (None, "cpu"):
        return 0
    import torch

    if device is None and torch.cuda.is_available():
        return 0
    if workers is None:
        workers = default_threads()
    count = min(workers, len(seeds))
    return count if count >= 2 else 0


def prefetch_seeds(name: str, seeds: Sequence[int], jobs: Sequence[Job], device: str | None = None,
                   workers: int | None = None) -> int | None:
    """Run every job of ``jobs`` for each seed in its own worker process (one thread each),
    so that the run cache holds their finetuning runs. Returns the thread count the caller
    must load the model with to find those runs (1), or None when nothing was prefetched
    (not a toy model, a GPU, one seed or one core): then load it as usual."""
    seeds = check_seeds(seeds)
    if not jobs or any(not callable(fn) or not isinstance(kw, dict) for fn, kw in jobs):
        raise ParameterError("jobs must be (experiment function, keyword arguments) pairs, e.g. "
                             "[(run_grafting, {'n_prompts': 20})]")
    count = workers_for(name, seeds, device, workers)
    if not count:
        return None
    config = toy_config(load_params(name))
    if not is_cached(config):  # pretrained here first, never by two workers at once
        pretrained(config)
    side_by_side(_run_seed, [(seed, jobs) for seed in seeds], count, initializer=_load_worker_model, initargs=(name,))
    return 1


def _load_worker_model(name: str) -> None:
    """Worker start-up: the model once per worker, on one thread."""
    global _WORKER_MODEL
    _WORKER_MODEL = load_model(name, device="cpu", threads=1)


def _run_seed(task: tuple[int, Sequence[Job]]) -> int:
    """A worker's job: every experiment for one seed; the results stay in the run cache."""
    seed, jobs = task
    for fn, kwargs in jobs:
        only = kwargs.get("seeds")
        if only is None or seed in only:
            fn(_WORKER_MODEL, seeds=[seed], progress=False, **{k: v for k, v in kwargs.items() if k != "seeds"})
    return seed
