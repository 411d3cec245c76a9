"""Does a fresh run reproduce the committed results? Numbers within a stated tolerance,
every verdict identical.

    python -m extractive_core.reproduce COMMITTED_RESULTS_DIR FRESH_RESULTS_DIR

Bit-for-bit agreement holds on machines whose CPUs take the same kernel paths (same thread
count, same vendor's MKL path, same oneDNN ISA); across CPU vendors it does not, and the
difference grows through training like a change of seed (measured in the reproduction
notes). So where the fresh results come from the same environment as the committed ones (same CPU
model, capability, threads, packages and numeric variables, read from their provenance)
numbers must be identical; elsewhere within the tolerance measured by the reproduction
notebook (mean-rank units). Every categorical verdict (the ``verdicts`` entries) must match
exactly, everywhere.
Provenance (versions, CPU) and timings (keys ending in ``seconds``) are never compared.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from .results import load_json

IGNORED_KEYS = ("provenance",)
MEASUREMENTS = "reproducibility"  # results/<model>/reproducibility.json: the measured tolerances


def tolerances(committed_root: Path) -> dict[str, float]:
    """``{"<model>/<name>": tolerance}``, as measured by the reproduction notebook (twice
    the largest difference another numeric setting made); unlisted files get the largest."""
    found: dict[str, float] = {}
    for path in Path(committed_root).glob(f"*/{MEASUREMENTS}.json"):
        found.update(load_json(path).get("tolerance", {}))
    return found


def tolerance_for(table: dict[str, float], rel: Path) -> float:
    key = f"{rel.parent.name}/{rel.stem}"
    return table.get(key, max(table.values(), default=0.0))


def compare(committed: Any, fresh: Any, tolerance: float, path: str = "") -> tuple[list[str], float]:
    """Differences between two results trees, and the largest numeric difference seen."""
    if isinstance(committed, dict) and isinstance(fresh, dict):
        problems: list[str] = []
        worst = 0.0
        keys = {k for k in set(committed) | set(fresh) if k not in IGNORED_KEYS and not str(k).endswith("seconds")}
        for key in sorted(keys, key=str):
            if key not in committed or key not in fresh:
                problems.append(f"{path}/{key}: only in the {'fresh' if key in fresh else 'committed'} results")
                continue
            sub, diff = compare(committed[key], fresh[key], tolerance, f"{path}/{key}")
            problems += sub
            worst = max(worst, diff)
        return problems, worst
    if isinstance(committed, list) and isinstance(fresh, list):
        if len(committed) != len(fresh):
            return [f"{path}: {len(committed)} committed entries, {len(fresh)} fresh"], 0.0
        problems, worst = [], 0.0
        for i, (a, b) in enumerate(zip(committed, fresh)):
            sub, diff = compare(a, b, tolerance, f"{path}[{i}]")
            problems += sub
            worst = max(worst, diff)
        return problems, worst
    numbers = (int, float)
    if isinstance(committed, numbers) and isinstance(fresh, numbers) and not isinstance(committed, bool):
        if math.isnan(committed) and math.isnan(fresh):
            return [], 0.0
        diff = abs(committed - fresh)
        if not diff <= tolerance:
            return [f"{path}: committed {committed!r}, fresh {fresh!r} (|diff| {diff:.4g} > {tolerance})"], diff
        return [], diff
    if committed != fresh:
        kind = "verdict" if "/verdicts" in path else "value"
        return [f"{path}: {kind} differs: committed {committed!r}, fresh {fresh!r}"], 0.0
    return [], 0.0


SAME_BITS_KEYS = ("cpu_model", "cpu_capability", "threads", "packages", "variables", "device")


def same_environment(committed: Any, fresh: Any) -> bool:
    """Whether two results were produced where the bits should be identical: same CPU,
    capability, threads, package versions and numeric variables (their ``provenance``)."""
    a, b = (r.get("provenance", {}) if isinstance(r, dict) else {} for r in (committed, fresh))
    return "cpu_model" in a and all(a.get(k) == b.get(k) for k in SAME_BITS_KEYS)


def compare_dirs(committed_root: Path, fresh_root: Path) -> tuple[list[str], list[str]]:
    """Compare every ``<model>/<name>.json`` under two results folders. Returns a report
    line per file and the list of problems."""
    report: list[str] = []
    problems: list[str] = []
    committed_files = sorted(p.relative_to(committed_root) for p in Path(committed_root).glob("*/*.json"))
    if not committed_files:
        return report, [f"no committed results under {committed_root}"]
    table = tolerances(Path(committed_root))
    for rel in committed_files:
        fresh_path = Path(fresh_root) / rel
        if not fresh_path.is_file():
            problems.append(f"{rel}: not produced by the fresh run")
            continue
        committed, fresh = load_json(Path(committed_root) / rel), load_json(fresh_path)
        strict = same_environment(committed, fresh)
        tol = 0.0 if strict else tolerance_for(table, rel)
        if rel.stem == MEASUREMENTS:  # the measurements differ by machine, and so does which of them a machine
            # can make (float32 against bf16 needs bf16 hardware); the verdicts both made must agree
            both = set(committed.get("verdicts") or {}) & set(fresh.get("verdicts") or {})
            committed, fresh = ({"verdicts": {k: r["verdicts"][k] for k in sorted(both)}} for r in (committed, fresh))
        found, worst = compare(committed, fresh, tol)
        status = "identical" if worst == 0 and not found else ("within tolerance" if not found else "DIFFERS")
        where = "same environment, bits expected" if strict else "other environment, measured tolerance"
        report.append(f"{str(rel):<40} largest |diff| {worst:.4g} (tolerance {tol:g}, {where}): {status}")
        problems += [f"{rel}: {p}" for p in found]
    return report, problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    report, problems = compare_dirs(Path(args[0]), Path(args[1]))
    print("\n".join(report))
    if problems:
        print(f"\n{len(problems)} difference(s) beyond tolerance or in verdicts:")
        print("\n".join(f"  {p}" for p in problems[:50]))
        return 1
    print("fresh results reproduce the committed ones (numbers within tolerance, verdicts identical)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
