"""Time the steps of the test command and print where the time went.

    python tools/timed.py --start              # the clock starts (before set-up)
    python tools/timed.py NAME -- COMMAND ...  # run one step, record its seconds
    python tools/timed.py --table              # the table (also printed when a step fails)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

LOG = Path("_build/test-times.jsonl")
BUDGET_MIN = {"target": 20, "ceiling": 35}  # the test command from a fresh clone, install included
DISK_GB = 12  # make test's peak from a fresh clone: venv, default model, chromium, the nbval run cache


def table() -> str:
    rows = [json.loads(line) for line in LOG.read_text().splitlines()] if LOG.is_file() else []
    start = next((r["at"] for r in rows if r["name"] == "start"), None)
    free_at_start = next((r.get("free_gb") for r in rows if r["name"] == "start"), None)
    steps = [r for r in rows if r["name"] != "start"]
    lines = [f"{'step of make test':<34} {'seconds':>8}"]
    if start is not None and steps:
        lines.append(f"{'set-up (venv, Chromium)':<34} {steps[0]['at'] - start:8.0f}")
    for r in steps:
        lines.append(f"{r['name']:<34} {r['seconds']:8.0f}" + ("" if r["rc"] == 0 else f"  FAILED (exit {r['rc']})"))
    if start is not None and steps:
        total = steps[-1]["at"] + steps[-1]["seconds"] - start
        lines.append(f"{'total':<34} {total:8.0f}  ({total / 60:.1f} min; budget target {BUDGET_MIN['target']} min, "
                     f"ceiling {BUDGET_MIN['ceiling']} min, install included)")
    if free_at_start is not None:
        lines.append(f"disk: {free_at_start:.1f} GB free at the start, {free_gb():.1f} GB now (make test needs about "
                     f"{DISK_GB} GB at its peak; see README)")
    return "\n".join(lines)


def free_gb() -> float:
    """Free GB on the checkout's disk (where the venv and the test command's run cache live)."""
    return shutil.disk_usage(".").free / 1e9


def record(entry: dict) -> None:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as f:
        f.write(json.dumps(entry) + "\n")


def main(argv: list[str]) -> int:
    if argv == ["--start"]:
        LOG.unlink(missing_ok=True)
        record({"name": "start", "at": time.time(), "free_gb": free_gb()})
        return 0
    if argv == ["--table"]:
        print("\nWhere the time of make test went:\n" + table(), flush=True)
        return 0
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip(), file=sys.stderr)
        return 2
    at = time.time()
    rc = subprocess.run(argv[2:]).returncode
    record({"name": argv[0], "at": at, "seconds": time.time() - at, "rc": rc})
    if rc != 0:
        print("\nWhere the time of make test went, up to the failed step:\n" + table(), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
