"""Execute the notebooks with papermill, one after another, and print where the time went.

    python tools/run_notebooks.py [NOTEBOOK ...] [--model NAME --out DIR]

Without --model each notebook runs in place on its own default model (the committed,
executed copies). With --model, notebooks that take a ``model`` parameter run on that model
into DIR. The table at the end gives seconds per notebook and what the caches reused:
finetuning runs (``run cache``) and pretrained toy models.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from extractive_core import settings

BUDGET_MIN = {"target": 45, "ceiling": 60}  # the main job from a fresh clone, install included, on the slower (AVX2) machines


def takes_model(notebook: Path) -> bool:
    """Whether the notebook's parameters cell sets ``model``."""
    cells = json.loads(notebook.read_text())["cells"]
    return any("parameters" in c.get("metadata", {}).get("tags", []) and
               any(line.startswith("model = ") for line in c["source"]) for c in cells)


# Runs before the notebooks: every toy model of the corpus-order grid from the shipped
# checkpoints, or (EXTRACTIVE_PRETRAIN=1, `make all PRETRAIN=1`) pretrained afresh two at a time
# and shipped (written to extractive_core/toy_checkpoints/).
def pretrain_step() -> tuple[str, list[str]]:
    if settings.pretrain_requested():
        return "toy models (pretrained, shipped)", ["-m", "extractive_core.pretraining_order", "--regenerate"]
    return "toy models (shipped)", ["-m", "extractive_core.pretraining_order"]


def run_one(notebook: Path, output: Path, model: str | None) -> tuple[float, dict[str, int]]:
    """Execute one notebook; seconds taken and counts of cache events."""
    cmd = ["-m", "papermill", "--log-level", "WARNING", str(notebook), str(output)]
    if model:
        cmd += ["-p", "model", model]
    return run_step(str(notebook), cmd)


def run_step(name: str, args: list[str]) -> tuple[float, dict[str, int]]:
    """Run ``python ARGS``; seconds taken and counts of cache events."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        stats = Path(f.name)
    env = settings.environ_with(EXTRACTIVE_RUN_STATS=str(stats), EXTRACTIVE_PROGRESS="0")
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


def table(rows: list[tuple[str, float, dict[str, int]]]) -> str:
    lines = [f"{'step':<34} {'seconds':>8}  {'runs reused/trained':>20}  {'toy models shipped/reused/pretrained':>37}"]
    for name, seconds, c in rows:
        lines.append(f"{name:<34} {seconds:8.0f}  {c.get('run_hit', 0):>9}/{c.get('run_trained', 0):<10}"
                     f"  {c.get('pretrain_shipped', 0):>15}/{c.get('pretrain_hit', 0)}/{c.get('pretrain_trained', 0):<14}")
    total = sum(s for _, s, _ in rows)
    lines.append(f"{'total':<34} {total:8.0f}  ({total / 60:.1f} min; main-job budget target "
                 f"{BUDGET_MIN['target']} min, ceiling {BUDGET_MIN['ceiling']} min, on AVX2 machines with set-up and book; here set-up and book not counted)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    notebooks = args.notebooks or sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    rows = []
    try:
        if not args.model:
            step = pretrain_step()
            print(f"== {step[0]}", flush=True)
            rows.append((step[0], *run_step(*step)))
        for nb in notebooks:
            if args.model and not takes_model(nb):
                continue
            out = nb if not args.model else (args.out or Path("runs") / args.model) / nb.name
            out.parent.mkdir(parents=True, exist_ok=True)
            print(f"== {nb}" + (f" on {args.model}" if args.model else ""), flush=True)
            seconds, counts = run_one(nb, out, args.model)
            rows.append((nb.stem, seconds, counts))
    finally:
        if rows:
            print("\nWhere the time went:\n" + table(rows), flush=True)


if __name__ == "__main__":
    main()
