"""One call per model in a chapter's notebook: load the model, run the chapter's experiment
(and any experiments saved beside it) on it, and save the results file.

    lm, results = run_chapter("toyworld", "grafting", (run_grafting, {"seeds": [0, 1, 2]}))

A toy model's seeds first train side by side, one thread each (``parallel.prefetch_seeds``),
and the model is then loaded on one thread so that the experiment finds those runs in the
run cache; any other model is loaded as asked.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import ParameterError
from .models import LoadedModel, load_model
from .params import check_seeds
from .parallel import Job, prefetch_seeds
from .results import results_path, save_json


def run_chapter(name: str, result: str, experiment: Job, extras: Mapping[str, Job] | None = None, *,
                device: str | None = None, threads: int | None = None,
                prefetch: bool = True) -> tuple[LoadedModel, dict[str, Any]]:
    """Run ``experiment`` (an experiment function and its keyword arguments, ``seeds`` among
    them) on model ``name``, then each of ``extras``, whose results are stored under their
    key; save everything as ``results/<name>/<result>.json``. ``prefetch=False`` never trains
    seeds side by side (an experiment whose work is not in its finetuning runs)."""
    jobs = [experiment, *(extras or {}).values()]
    for job in jobs:
        if not (isinstance(job, tuple) and len(job) == 2 and callable(job[0]) and isinstance(job[1], dict)
                and "seeds" in job[1]):
            raise ParameterError(f"each experiment must be (function, keyword arguments with 'seeds'), got {job!r}; "
                                 "e.g. (run_grafting, {'seeds': [0, 1, 2]})")
    seeds = sorted({s for _, kwargs in jobs for s in check_seeds(kwargs["seeds"])})  # each job's checked first
    prefetched = prefetch_seeds(name, seeds, jobs, device) if prefetch else None
    lm = load_model(name, device=device, threads=prefetched or threads)
    fn, kwargs = experiment
    results = fn(lm, **kwargs)
    for key, (extra, extra_kwargs) in (extras or {}).items():
        results[key] = extra(lm, **extra_kwargs)
    save_json(results_path(name, result), results)
    return lm, results
