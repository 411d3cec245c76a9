"""Execute the notebooks with papermill, ``--lanes`` at a time, and print where the time went.

    python tools/run_notebooks.py [NOTEBOOK ...] [--model NAME --out DIR] [--lanes N --threads T]
    python tools/run_notebooks.py --nbval --lanes 2 --threads 1 NOTEBOOK ...   # the test command's nbval

Without --model each notebook runs in place on its own default model (the committed,
executed copies). With --model, notebooks that take a ``model`` parameter run on that model
into DIR. The table at the end gives seconds per notebook and what the caches reused:
finetuning runs (``run cache``) and pretrained toy models.

Lanes: on 2 cores two notebooks on one thread each get through more work than one on two
threads (a default-model recipe run took 23.2 s on two threads, 34.3 s on one thread with a
second such run beside it: x1.35 the work per second; its small matmuls do not fill two
cores). A notebook starts when a lane is free and the notebooks whose runs it reads from the
run cache (``AFTER``) are done, the one with the longest expected path to the end first
(``expected_seconds``: the committed copy's own duration). ``--threads`` sets
``EXTRACTIVE_THREADS`` for the notebooks, and the thread count decides a run's bits, so the
main job and the test command use the same one (the Makefile's ``LANE_THREADS``).

``--nbval``: the test command's way. Each notebook runs under nbval (``pytest --nbval-lax``,
one process per notebook) in the same lanes and order, in place, so a notebook that reads
another's runs from the run cache waits for it there too (05 reuses 04's phases, half of
its default-model work), which pytest-xdist's scheduling does not know.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Sequence

from extractive_core import settings

BUDGET_MIN = {"target": 45, "ceiling": 60}  # the main job from a fresh clone, install included, on the slower (AVX2) machines
NBVAL = ["-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "--durations=3", "-q"]


def model_default(notebook: Path) -> str | None:
    """The value the notebook's parameters cell gives ``model``, or None where it sets none."""
    cells = json.loads(notebook.read_text())["cells"]
    for c in cells:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            for line in c["source"]:
                if line.startswith("model = "):
                    return str(ast.literal_eval(line.split("=", 1)[1].split("#")[0].strip()))
    return None


def takes_model(notebook: Path) -> bool:
    """Whether the notebook's parameters cell sets ``model``."""
    return model_default(notebook) is not None


# Runs before the notebooks: every toy model of the corpus-order grid from the shipped
# checkpoints, or (EXTRACTIVE_PRETRAIN=1, `make all PRETRAIN=1`) pretrained afresh two at a time
# and shipped (written to extractive_core/toy_checkpoints/).
def pretrain_step() -> tuple[str, list[str]]:
    if settings.pretrain_requested():
        return "toy models (pretrained, shipped)", ["-m", "extractive_core.pretraining_order", "--regenerate"]
    return "toy models (shipped)", ["-m", "extractive_core.pretraining_order"]


# Notebooks that read another notebook's finetuning runs from the run cache start after it, so
# each shared run trains once (02 and 03 score and freeze chapter 01's runs, 08 compares them;
# 05 continues from 04's phases). A missing entry costs time, never a number: the cache is
# keyed by a run's spec, and the same spec trains to the same bits in either notebook.
AFTER: dict[str, tuple[str, ...]] = {"02_extractive_scores": ("01_two_hop_ocr",),
                                     "03_layer_freezing": ("01_two_hop_ocr",),
                                     "05_data_ordering": ("04_grafting",),
                                     "08_reproducibility": ("01_two_hop_ocr",)}


def expected_seconds(notebook: Path) -> float:
    """The committed copy's execution time (``notebooks/<name>``, papermill's metadata), else 0."""
    committed = Path("notebooks") / notebook.name
    path = committed if committed.is_file() else notebook
    try:
        return float(json.loads(path.read_text())["metadata"]["papermill"]["duration"] or 0.0)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def start_order(notebooks: Sequence[Path]) -> list[Path]:
    """The notebooks by their expected path to the end (own seconds plus the longest chain of
    notebooks that wait for them), longest first; ties keep the given order."""
    by_stem = {nb.stem: nb for nb in notebooks}
    path: dict[str, float] = {}

    def to_end(stem: str) -> float:
        if stem not in path:
            after = [s for s, deps in AFTER.items() if stem in deps and s in by_stem]
            path[stem] = expected_seconds(by_stem[stem]) + max((to_end(s) for s in after), default=0.0)
        return path[stem]

    return sorted(notebooks, key=lambda nb: -to_end(nb.stem))


def run_lanes(notebooks: Sequence[Path], lanes: int, run: Callable[[Path], tuple[float, dict[str, int]]],
              keep_going: bool = False) -> list[tuple[str, float, dict[str, int]]]:
    """Run ``run(nb)`` for each notebook, ``lanes`` at a time, each once the notebooks it waits
    for (``AFTER``) are done; rows in the order they finished. A failure stops new starts,
    lets the running ones finish, then raises; with ``keep_going`` (the test command) every
    notebook still runs (one that waits for a failed one only loses its cached runs) and the
    error names every failure."""
    waiting, done, rows = start_order(notebooks), set(), []
    names = {nb.stem for nb in notebooks}
    running: dict[Future, Path] = {}
    failure: BaseException | None = None
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        while waiting or running:
            ready = [nb for nb in waiting if all(d in done or d not in names for d in AFTER.get(nb.stem, ()))]
            while (failure is None or keep_going) and ready and len(running) < lanes:
                nb = ready.pop(0)
                waiting.remove(nb)
                print(f"== {nb} (started; {len(running) + 1} running)", flush=True)
                running[pool.submit(run, nb)] = nb
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                nb = running.pop(future)
                try:
                    seconds, counts = future.result()
                except BaseException as err:  # SystemExit from run_step included
                    failure = failure or err
                    failed.append(nb.stem)
                    done.add(nb.stem)  # what waits for it may start: it only loses the cached runs
                    continue
                done.add(nb.stem)
                rows.append((nb.stem, seconds, counts))
                print(f"== {nb} done in {seconds:.0f} s", flush=True)
    if failure is not None:
        if keep_going and len(failed) > 1:
            raise SystemExit(f"{len(failed)} notebooks failed: {', '.join(failed)} (each one's output is above)")
        raise failure
    return rows


# Lanes share the cores, and a notebook's subprocess may run on more threads than its lane has:
# chapter 08's thread-count probe trains on 2 threads beside the other lane's notebook. OpenMP's
# default waiting spins at every barrier for a thread the OS has descheduled, so that probe took
# 592 s instead of 35 s in the main job (AMD EPYC); beside a busy one-thread lane on an Intel Xeon
# it had not finished at 180 s, and took 34 s with passive waiting (18 s alone). Passive waiting
# yields the core instead and decides no number (the same weight bits, measured). A value the
# user set is kept.
LANE_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def lane_env(lanes: int, threads: int | None) -> dict[str, str]:
    """The environment a notebook runs under beside ``lanes - 1`` others."""
    env = {"EXTRACTIVE_THREADS": str(threads)} if threads else {}
    if lanes > 1:
        env.update({k: v for k, v in LANE_ENV.items() if k not in os.environ})
    return env


def run_one(notebook: Path, output: Path, model: str | None, threads: int | None = None, lanes: int = 1
            ) -> tuple[float, dict[str, int]]:
    """Execute one notebook; seconds taken and counts of cache events."""
    cmd = ["-m", "papermill", "--log-level", "WARNING", str(notebook), str(output)]
    if model:
        cmd += ["-p", "model", model]
    return run_step(str(notebook), cmd, lane_env(lanes, threads))


def run_nbval(notebook: Path, threads: int | None = None, lanes: int = 1) -> tuple[float, dict[str, int]]:
    """Execute one notebook under nbval (its outputs not written back); seconds and cache events."""
    return run_step(str(notebook), [*NBVAL, str(notebook)], lane_env(lanes, threads))


def run_step(name: str, args: list[str], env_overrides: dict[str, str] | None = None) -> tuple[float, dict[str, int]]:
    """Run ``python ARGS``; seconds taken and counts of cache events."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        stats = Path(f.name)
    env = settings.environ_with(env_overrides, EXTRACTIVE_RUN_STATS=str(stats), EXTRACTIVE_PROGRESS="0")
    cmd = [sys.executable, *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env)
    seconds = time.perf_counter() - start
    counts: dict[str, int] = {}
    for line in stats.read_text().splitlines():
        event = json.loads(line)["event"]
        counts[event] = counts.get(event, 0) + 1
    stats.unlink()
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}) after {seconds:.0f} s")
    return seconds, counts


def table(rows: list[tuple[str, float, dict[str, int]]], wall: float, lanes: int, main_job: bool = True) -> str:
    lines = [f"{'step':<34} {'seconds':>8}  {'runs reused/trained':>20}  {'toy models shipped/reused/pretrained':>37}"]
    for name, seconds, c in rows:
        lines.append(f"{name:<34} {seconds:8.0f}  {c.get('run_hit', 0):>9}/{c.get('run_trained', 0):<10}"
                     f"  {c.get('pretrain_shipped', 0):>15}/{c.get('pretrain_hit', 0)}/{c.get('pretrain_trained', 0):<14}")
    work = sum(s for _, s, _ in rows)
    budget = (f"; main-job budget target {BUDGET_MIN['target']} min, ceiling {BUDGET_MIN['ceiling']} min, on AVX2 "
              "machines with set-up and book; here set-up and book not counted" if main_job else "")
    lines.append(f"{'total (wall)':<34} {wall:8.0f}  ({wall / 60:.1f} min; the steps' own seconds add up to {work:.0f} "
                 f"with {lanes} lane(s){budget})")
    return "\n".join(lines)


# Before notebooks run side by side, the default model is dequantised once (else each lane's
# first notebook would do it); a no-op when the cache holds it.
def model_step(model: str) -> tuple[str, list[str]]:
    return f"model {model} (dequantised once)", ["-c", f"from extractive_core import load_model; load_model({model!r})"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--lanes", type=int, default=1, help="notebooks run side by side (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="EXTRACTIVE_THREADS for each notebook")
    parser.add_argument("--nbval", action="store_true",
                        help="run each notebook under nbval (pytest --nbval-lax) in place of papermill: the test command")
    args = parser.parse_args()
    if args.nbval and (args.model or not args.notebooks):
        parser.error("--nbval runs the notebooks it is given as they are (results to $EXTRACTIVE_OUTPUT): "
                     "give the sampled notebooks' paths, and no --model")
    if args.lanes < 1 or (args.threads is not None and args.threads < 1):
        parser.error(f"--lanes and --threads must be whole numbers >= 1, got {args.lanes} and {args.threads}")
    missing = [str(nb) for nb in args.notebooks if not nb.is_file()]
    if missing:
        parser.error(f"no notebook at {', '.join(missing)}: give the paths of .ipynb files (e.g. notebooks/01_two_hop_ocr.ipynb)")
    notebooks = args.notebooks or sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    notebooks = [nb for nb in notebooks if not args.model or takes_model(nb)]
    rows: list[tuple[str, float, dict[str, int]]] = []
    clock = time.perf_counter()

    def one(nb: Path) -> tuple[float, dict[str, int]]:
        if args.nbval:
            return run_nbval(nb, args.threads, args.lanes)
        out = nb if not args.model else (args.out or Path("runs") / args.model) / nb.name
        out.parent.mkdir(parents=True, exist_ok=True)
        return run_one(nb, out, args.model, args.threads, args.lanes)

    try:
        steps = [] if args.model or args.nbval else [pretrain_step()]
        if args.lanes > 1:
            steps += [model_step(m) for m in sorted({args.model or model_default(nb) for nb in notebooks} - {None})]
        for step in steps:
            print(f"== {step[0]}", flush=True)
            rows.append((step[0], *run_step(*step)))
        rows += run_lanes(notebooks, args.lanes, one, keep_going=args.nbval)
    finally:
        if rows:
            print("\nWhere the time went:\n" + table(rows, time.perf_counter() - clock, args.lanes, not args.nbval), flush=True)


if __name__ == "__main__":
    main()
