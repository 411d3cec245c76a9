"""Does a fresh run reproduce the committed results? Each number by a rule that the machine
which made it can honestly be held to, every verdict identical (in another environment, a
claim's verdict may move one step at the margin on another CPU, and is reported).

    python -m extractive_core.reproduce COMMITTED_RESULTS_DIR FRESH_RESULTS_DIR

The rule for a results file depends on where the fresh file was made and on which seeds it ran:

- **Same environment** (same CPU model, capability, threads, packages and numeric variables,
  read from the files' ``provenance``): identical numbers. A rerun there is bit-identical.
- **Another environment**: the bits of a training run depend on the kernels the CPU takes,
  and a toy model's per-seed ranks move under another CPU like under a small change of seed
  (up to 0.55 rank on an AVX-512 machine against results made on an AVX2 one). So per-seed
  numbers are not compared one by one: each number inside a per-seed collection is compared
  as its mean over the seeds, which must lie within ``SE_MULTIPLE`` standard errors of the
  difference of two such means (``sqrt((s_c^2 + s_f^2) / n)``, from the seeds' own spread)
  or within the file's measured tolerance, whichever is larger. Numbers outside per-seed
  collections (settings, seed-independent measurements, means over seeds that are not
  summaries of a per-seed list shown beside them) are held to the measured tolerance; the
  derived fields of a summary (its mean, min, max, interval) follow from its per-seed
  values, which are compared.
- **A sample of the seeds** (the test command re-runs the default model on seed 0 only,
  ``SAMPLE``): each sampled seed's entries are compared with the committed entries of the
  same seed. In the same environment they are identical. In another one, each number's mean
  over the sampled seeds must lie within ``SE_MULTIPLE`` standard errors of the difference,
  the spread taken from all the committed seeds (``sqrt(2 s_c^2 / m)`` for ``m`` sampled
  seeds), or within the measured tolerance, whichever is larger: the rule above with the
  committed seeds standing in for the fresh ones' spread. (Measured: gemma3_270m's seed 0
  under AVX2 kernels against AVX-512-made results moved a data-ordering rank by 0.25 and a
  grafting localisation r^2 by 0.18, 1.7 of the three seeds' standard deviations.) The
  means, intervals and verdicts over all seeds cannot be recomputed from one seed, so the
  test suite checks instead that the committed verdicts and claims are what the committed
  per-seed results give (``tests/test_shown_claims.py``).
- **A sample of a grid** (the test command runs one learning rate of the sweep): the committed
  records and keys of the other learning rates are left out (``grid_sample``), and what the
  sample ran is compared as above; a learning rate the committed grid lacks is a difference.

Verdicts are compared exactly, with one exception on another CPU (model or capability): a
claim's verdict (``agrees`` / ``partly`` / ``does not``) that moved one step, with its
``verdicts`` copy if the file keeps one and the directions of the paired comparisons it rests on
(``lower`` / ``no separation`` / ``higher``, one step), is a ``MarginNote``, printed under its file
with what differs in the environment, not a difference (``margin_notes``). A verdict is a threshold on an interval over seeds; where the
interval ends near 0, another CPU's kernels move it across as a small change of seed would.
The numbers behind it are still held to the rule above; ``not tested`` (a precondition) and a
two-step move must match, and so must the chapters' own verdicts in other vocabularies.

Per-seed collections are found by shape: a ``per_seed`` dict keyed by seed, a list of
records that each name their ``seed``, a list under ``per_seed``, ``values``,
``differences`` or ``*_per_seed`` with one entry per seed of the nearest ``seeds`` list, and
the ``exact`` check of the seed named ``exact_seed``. Provenance and timings (keys ending in
``seconds``) are never compared.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .claim_rules import VERDICTS
from .stats import DIRECTIONS
from .numerics import environment_differences
from .errors import bad_input_exits
from .results import load_json, results_folder

PROG = "python -m extractive_core.reproduce"
IGNORED_KEYS = ("provenance",)
MEASUREMENTS = "reproducibility"  # results/<model>/reproducibility.json: the measured tolerances
SE_MULTIPLE = 4.0  # another environment: a mean over seeds within 4 standard errors of the difference
ALIGNED_KEYS = ("per_seed", "values", "differences")  # lists with one entry per seed of the nearest ``seeds``
SEED_SCOPED = {"exact": "exact_seed"}  # a subtree that belongs to the seed its sibling key names
THREADS_HINT = "the thread count decides the bits: set EXTRACTIVE_THREADS to the committed count to compare bit for bit"
GRID_AXIS = "lrs"  # a grid the test command may sample, beside the seeds: the sweep's learning rates

# What the test command re-runs of each notebook (papermill parameters): the default model on
# seed 0 of each experiment, every toy model in full. The main job runs every seed.
SAMPLE: dict[str, dict[str, Any]] = {
    "01_two_hop_ocr": {"seeds": [0]},
    "02_extractive_scores": {"seeds": [0]},
    "03_layer_freezing": {"seeds": [0], "band_seeds": [0]},
    "04_grafting": {"seeds": [0]},
    "05_data_ordering": {"seeds": [0]},
    # the sweep has one seed already; of its grid, the recipe's lr (3e-5: gemma3_270m.yaml), whose cells hold the
    # best second-hop cell that the freezing runs at; its other lrs' records are left out of the comparison
    "06_model_sweep": {"lrs": [3e-5], "freeze_seeds": [1]},
    "07_toyworld": {},  # toy models only
    # one seed cannot pass or fail the precision rule (its verdicts need the float32 seeds' range)
    "08_reproducibility": {"seeds": [0], "precision_comparison": False},
}


@dataclass(frozen=True)
class Rule:
    """How one results file is compared: ``tolerance`` per number (0: identical bits),
    ``statistical``: per-seed collections by their mean over seeds (another environment)."""
    tolerance: float
    statistical: bool


TOLERANCE_FLOOR = 0.1  # mean-rank units: two prompts of 20 moving one rank each
# Ranks are stored as float32 means (10.05 is 10.050000190734863): two prompts of 20 moving one
# rank each must read as 0.1, not 0.10000038, so a difference may exceed its bound by this much.
STORAGE_SLACK = 1e-5


def measured_tolerance(differences: Iterable[float]) -> float:
    """The tolerance the reproduction notes commit for a results file: twice the largest
    difference that another numeric setting made in its probe, at least ``TOLERANCE_FLOOR``
    (the floor where the probe did not run)."""
    return round(max(TOLERANCE_FLOOR, 2 * max(differences, default=0.0)), 2)


def tolerances(committed_root: Path) -> dict[str, float]:
    """``{"<model>/<name>": tolerance}``, as measured by the reproduction notebook (twice
    the largest difference another numeric setting made); unlisted files get the floor."""
    found: dict[str, float] = {}
    for path in Path(committed_root).glob(f"*/{MEASUREMENTS}.json"):
        found.update(load_json(path).get("tolerance", {}))
    return found


def tolerance_for(table: dict[str, float], rel: Path) -> float:
    """The measured tolerance of ``results/<model>/<name>.json``, else ``TOLERANCE_FLOOR``: a
    probe measures the runs of the files it lists (the default model's two-hop runs, the toy
    world's finetuning from its shipped checkpoints), and another file's per-seed numbers are
    held to their seeds' own spread beside the floor, never to another file's probe."""
    return table.get(f"{rel.parent.name}/{rel.stem}", TOLERANCE_FLOOR)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def seed_entries(key: str, value: Any, seeds: list | None, scope: dict) -> dict[int, Any] | None:
    """The per-seed collection at ``key`` as ``{seed: entry}``, or None if it is not one.
    ``seeds``: the nearest enclosing ``seeds`` list; ``scope``: the dict holding ``key``."""
    if key in SEED_SCOPED and isinstance(scope.get(SEED_SCOPED[key]), int):
        return {scope[SEED_SCOPED[key]]: value}
    if key == "per_seed" and isinstance(value, dict) and value and all(str(k).lstrip("-").isdigit() for k in value):
        return {int(k): v for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(e, dict) and isinstance(e.get("seed"), int)
                                                 for e in value):
        grouped: dict[int, list] = {}
        for entry in value:  # several records per seed (one per lr, say) stay in order
            grouped.setdefault(entry["seed"], []).append(entry)
        return grouped
    aligned = key in ALIGNED_KEYS or key.endswith("_per_seed")
    if aligned and seeds and isinstance(value, list) and len(value) == len(seeds):
        return dict(zip(seeds, value))
    if key.endswith("_per_seed") and seeds and isinstance(value, dict) and value and all(
            isinstance(v, list) and len(v) == len(seeds) for v in value.values()):
        return {s: {k: v[i] for k, v in value.items()} for i, s in enumerate(seeds)}
    return None


def leaves(x: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a tree with its path."""
    if isinstance(x, dict):
        for k in sorted(x, key=str):
            if k not in IGNORED_KEYS and not str(k).endswith("seconds"):
                yield from leaves(x[k], f"{path}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, x


class MarginNote(str):
    """A claim's verdict that moved one step (``agrees`` / ``partly`` / ``does not``) on another
    CPU: reported beside the file, not a difference (``margin_notes`` decides). A verdict is a threshold on an
    interval over seeds, so one whose interval ends near 0 flips under another CPU's kernels
    like under a small change of seed (measured: the toy world's data-ordering claim, whose
    joint - implications-first interval ends near 0, reads ``partly`` on the AMD EPYC that made
    the committed results and ``does not`` on an Intel Xeon with every number within the rule).
    Its numbers are held to the rule where they sit; in the same environment, and for
    ``not tested`` or a two-step move, a changed verdict is a difference."""

    path: str  # where the verdict sits in the results file
    move: str  # what it moved from and to
    committed: Any  # the committed verdict

    def __new__(cls, path: str, committed: Any, fresh: Any) -> MarginNote:
        move = f"committed {committed!r}, fresh {fresh!r}"
        note = super().__new__(cls, f"{path}: verdict at the margin: {move} "
                                    "(one step, another CPU; its numbers are compared where they sit)")
        note.path, note.move, note.committed = path, move, committed
        return note


def margin_step(committed: Any, fresh: Any) -> bool:
    """Whether two verdicts are neighbours on the claim scale (``claim_rules.VERDICTS``) or on
    the scale of a paired comparison's direction (``stats.DIRECTIONS``)."""
    return any(committed in scale and fresh in scale and abs(scale.index(committed) - scale.index(fresh)) == 1
               for scale in (VERDICTS, DIRECTIONS))


def compare_scalars(committed: Any, fresh: Any, tolerance: float, path: str,
                    other_environment: bool = False) -> tuple[list[str], float]:
    if _is_number(committed) and _is_number(fresh):
        if math.isnan(committed) and math.isnan(fresh):
            return [], 0.0
        diff = abs(committed - fresh)
        if not diff <= tolerance + STORAGE_SLACK:
            return [f"{path}: committed {committed!r}, fresh {fresh!r} (|diff| {diff:.4g} > {tolerance})"], diff
        return [], diff
    if committed != fresh:
        if other_environment and margin_step(committed, fresh):
            return [MarginNote(path, committed, fresh)], 0.0
        kind = "verdict" if "/verdicts" in path else "value"
        return [f"{path}: {kind} differs: committed {committed!r}, fresh {fresh!r}"], 0.0
    return [], 0.0


def compare_seed_means(committed: dict[int, Any], fresh: dict[int, Any], rule: Rule, path: str,
                       spread_from: dict[int, Any] | None = None) -> tuple[list[str], float]:
    """Another environment, the same seeds: each number of the per-seed entries as its mean over
    the seeds, within ``SE_MULTIPLE`` standard errors of the difference or the tolerance.
    ``spread_from``: every committed seed, when ``fresh`` ran a sample of them (``committed``
    then holds the sampled seeds only); each number's spread over seeds is taken from it, for
    both sides."""
    if sorted(committed) != sorted(fresh):
        return [f"{path}: seeds {sorted(committed)} committed, {sorted(fresh)} fresh"], 0.0
    seeds = sorted(committed)
    reference = {s: dict(leaves(e)) for s, e in spread_from.items()} if spread_from is not None else None
    flat_c = {s: dict(leaves(committed[s])) for s in seeds}
    flat_f = {s: dict(leaves(fresh[s])) for s in seeds}
    problems: list[str] = []
    for s in seeds:
        if flat_c[s].keys() != flat_f[s].keys():
            only = sorted(flat_c[s].keys() ^ flat_f[s].keys())[:3]
            problems.append(f"{path} seed {s}: entries differ in shape ({', '.join(only)} ...)")
    if problems:
        return problems, 0.0
    worst = 0.0
    for leaf in flat_c[seeds[0]]:
        c = [flat_c[s][leaf] for s in seeds]
        f = [flat_f[s][leaf] for s in seeds]
        numeric = all(_is_number(v) or isinstance(v, bool) for v in c + f)
        if not numeric:  # names, phases, missing values: the same everywhere
            problems += [p for s in seeds for p in compare_scalars(flat_c[s][leaf], flat_f[s][leaf], 0.0,
                                                                   f"{path}{leaf} (seed {s})")[0]]
            continue
        nan_c, nan_f = [math.isnan(v) for v in c], [math.isnan(v) for v in f]
        if nan_c != nan_f:
            problems.append(f"{path}{leaf}: not-a-number for seeds {nan_c} committed, {nan_f} fresh")
            continue
        c, f = [float(v) for v, n in zip(c, nan_c) if not n], [float(v) for v, n in zip(f, nan_f) if not n]
        if not c:
            continue
        n = len(c)
        mean_c, mean_f = sum(c) / n, sum(f) / n
        spread, of = 0.0, f"{n} seeds"
        if reference is not None:  # a sample: the committed seeds' spread stands in for both sides'
            ref = [float(r[leaf]) for r in reference.values() if _is_number(r.get(leaf)) and not math.isnan(r[leaf])]
            if len(ref) > 1:
                spread = SE_MULTIPLE * math.sqrt(2 * statistics.variance(ref) / n)
            of = f"sampled seed{'s' if n > 1 else ''} {seeds}, spread of {len(ref)} committed seeds"
        elif n > 1:
            spread = SE_MULTIPLE * math.sqrt((statistics.variance(c) + statistics.variance(f)) / n)
        allowed = max(rule.tolerance, spread)
        diff = abs(mean_c - mean_f)
        worst = max(worst, diff)
        if not diff <= allowed + STORAGE_SLACK:
            problems.append(f"{path}{leaf}: mean over {of}: committed {mean_c:.4g}, fresh {mean_f:.4g} "
                            f"(|diff| {diff:.4g} > {allowed:.4g} = max(tolerance {rule.tolerance}, "
                            f"{SE_MULTIPLE:g} SE {spread:.4g}))")
    return problems, worst


def compare(committed: Any, fresh: Any, rule: Rule | float, path: str = "",
            seeds: tuple[list | None, list | None] = (None, None)) -> tuple[list[str], float]:
    """Differences between two results trees, and the largest numeric difference seen.
    ``rule``: a ``Rule``, or a bare tolerance for numbers compared one by one."""
    if not isinstance(rule, Rule):
        rule = Rule(float(rule), statistical=False)
    if isinstance(committed, dict) and isinstance(fresh, dict):
        return _compare_dicts(committed, fresh, rule, path, seeds)
    if isinstance(committed, list) and isinstance(fresh, list):
        if len(committed) != len(fresh):
            return [f"{path}: {len(committed)} committed entries, {len(fresh)} fresh"], 0.0
        problems, worst = [], 0.0
        for i, (a, b) in enumerate(zip(committed, fresh)):
            sub, diff = compare(a, b, rule, f"{path}[{i}]", seeds)
            problems += sub
            worst = max(worst, diff)
        return problems, worst
    return compare_scalars(committed, fresh, rule.tolerance, path, other_environment=rule.statistical)


def grid_sample(committed: dict, fresh: dict) -> tuple[dict, list[str]]:
    """When ``fresh`` ran a sample of ``committed``'s ``GRID_AXIS`` values (fewer learning rates
    of a sweep): ``committed`` restricted to the sampled values (keys naming another value,
    records whose ``lr`` is another value, left out; the axis set to the sample), and the
    problems (a fresh value the committed grid lacks). Otherwise ``committed`` unchanged."""
    grid_c, grid_f = committed.get(GRID_AXIS), fresh.get(GRID_AXIS)
    if not (isinstance(grid_c, list) and isinstance(grid_f, list)) or grid_c == grid_f:
        return committed, []
    unknown = [v for v in grid_f if not any(_same_value(v, c) for c in grid_c)]
    if unknown:
        return committed, [f"{GRID_AXIS}: fresh values {unknown} are not in the committed grid {grid_c}"]
    left_out = [c for c in grid_c if not any(_same_value(v, c) for v in grid_f)]

    def outside(x: Any) -> bool:
        try:
            return any(_same_value(float(x), c) for c in left_out)
        except (TypeError, ValueError):
            return False

    def restrict(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: restrict(v) for k, v in x.items() if not outside(k)}
        if isinstance(x, list):
            return [restrict(v) for v in x if not (isinstance(v, dict) and outside(v.get("lr")))]
        return x

    restricted = restrict(committed)
    restricted[GRID_AXIS] = grid_f
    return restricted, []


def _same_value(a: Any, b: Any) -> bool:
    return _is_number(a) and _is_number(b) and math.isclose(float(a), float(b), rel_tol=1e-9)


def _compare_dicts(committed: dict, fresh: dict, rule: Rule, path: str,
                   seeds: tuple[list | None, list | None]) -> tuple[list[str], float]:
    committed, grid_problems = grid_sample(committed, fresh)
    if grid_problems:
        return [f"{path}/{p}" for p in grid_problems], 0.0
    seeds_c: list | None = committed["seeds"] if isinstance(committed.get("seeds"), list) else seeds[0]
    seeds_f: list | None = fresh["seeds"] if isinstance(fresh.get("seeds"), list) else seeds[1]
    sampled = seeds_c is not None and seeds_f is not None and seeds_c != seeds_f
    problems: list[str] = []
    if sampled and not set(seeds_f or ()) < set(seeds_c or ()):
        return [f"{path}/seeds: fresh seeds {seeds_f} are not a sample of the committed {seeds_c}"], 0.0
    worst = 0.0
    keys = {k for k in set(committed) | set(fresh) if k not in IGNORED_KEYS and not str(k).endswith("seconds")}
    collections = {k: (seed_entries(k, committed[k], seeds_c, committed), seed_entries(k, fresh[k], seeds_f, fresh))
                   for k in keys if k in committed and k in fresh}
    summarised = any(k in ("values", "differences") and c is not None for k, (c, _) in collections.items())
    for key in sorted(keys, key=str):
        where = f"{path}/{key}"
        if key not in committed or key not in fresh:
            if sampled and not _holds_records(committed.get(key, fresh.get(key))):
                continue  # a summary's field that depends on how many seeds ran (an interval needs 3)
            problems.append(f"{where}: only in the {'fresh' if key in fresh else 'committed'} results")
            continue
        c_seeds, f_seeds = collections[key]
        if c_seeds is not None and f_seeds is not None:
            sub, diff = _compare_collections(c_seeds, f_seeds, rule, sampled, where)
        elif key == "seeds" or (sampled and key in ("verdicts", "claims")):
            continue  # seeds checked above; a sample's verdicts over seeds it did not run
        elif key == "claims":  # their inputs copy per-seed numbers compared where they sit: the verdicts must agree
            sub, diff = compare(claim_verdicts(committed[key]), claim_verdicts(fresh[key]), rule, where)
        elif (sampled or (summarised and rule.statistical)) and not _holds_records(committed[key]):
            # a sample's means over seeds it did not run; a summary's mean, min, max and
            # interval follow from its per-seed values, compared beside them
            continue
        else:
            sub, diff = compare(committed[key], fresh[key], rule, where, (seeds_c, seeds_f))
        problems += sub
        worst = max(worst, diff)
    return problems, worst


def claim_verdicts(claims: Any) -> Any:
    """A results file's ``claims`` reduced to their verdicts (a nested file's own too)."""
    if isinstance(claims, dict):
        return {k: v["verdict"] if isinstance(v, dict) and "verdict" in v else claim_verdicts(v)
                for k, v in claims.items()}
    return claims


def _holds_records(x: Any) -> bool:
    """Whether ``x`` holds dicts (where per-seed collections may sit), not only scalars."""
    if isinstance(x, dict):
        return True
    return isinstance(x, list) and any(_holds_records(v) for v in x)


def _compare_collections(committed: dict[int, Any], fresh: dict[int, Any], rule: Rule, sampled: bool,
                         path: str) -> tuple[list[str], float]:
    if sampled:
        unknown = [s for s in sorted(fresh) if s not in committed]
        if unknown:
            return [f"{path}: seed {s} is not in the committed results" for s in unknown], 0.0
        if rule.statistical:  # another environment: the committed seeds' spread stands in
            return compare_seed_means({s: committed[s] for s in fresh}, fresh, rule, path, spread_from=committed)
    elif rule.statistical:
        return compare_seed_means(committed, fresh, rule, path)
    elif sorted(committed) != sorted(fresh):
        return [f"{path}: seeds {sorted(committed)} committed, {sorted(fresh)} fresh"], 0.0
    problems, worst = [], 0.0
    for seed in sorted(fresh):
        sub, diff = compare(committed[seed], fresh[seed], rule, f"{path}(seed {seed})")
        problems += sub
        worst = max(worst, diff)
    return problems, worst


def describe_rule(rule: Rule, committed: Any, fresh: Any) -> str:
    seeds = [r.get("seeds") if isinstance(r, dict) else None for r in (committed, fresh)]
    sample = f"seeds {seeds[1]} of {seeds[0]}, " if seeds[0] != seeds[1] and None not in seeds else ""
    grids = [r.get(GRID_AXIS) if isinstance(r, dict) else None for r in (committed, fresh)]
    if grids[0] != grids[1] and None not in grids:
        sample += f"{GRID_AXIS} {grids[1]} of {grids[0]}, "
    if rule.tolerance == 0 and not rule.statistical:
        return f"{sample}same environment, bits expected"
    how = (f"sampled seeds within {SE_MULTIPLE:g} SE of the committed seeds' spread or the tolerance" if sample
           else f"seed means within {SE_MULTIPLE:g} SE or the tolerance")
    return f"{sample}other environment, {how}"


CPU_KEYS = ("cpu_model:", "cpu_capability:")  # environment differences that change the kernels a run takes


def margin_notes(found: list[str], differences: list[str]) -> tuple[list[str], list[str]]:
    """Split a file's findings into its claims' margin notes and its problems. A note stands only
    where the CPU differs (model or capability; another thread count or package on the same CPU
    is held to every verdict), a chapter's ``verdicts`` copy of a claim only beside the
    claim's own note (the two must move together), and a paired comparison's direction
    (``lower`` / ``no separation``, the intervals a chapter prints at its rule's level, which
    are the claim's inputs) only beside a claim of its file at the margin. One note per claim."""
    on_cpu = any(d.startswith(CPU_KEYS) for d in differences)
    claim_paths = {n.path for n in found if isinstance(n, MarginNote) and "/claims/" in n.path}
    notes: list[str] = []
    problems: list[str] = []
    for p in found:
        if not isinstance(p, MarginNote):
            problems.append(p)
        elif not on_cpu:
            problems.append(f"{p.path}: verdict differs on the same CPU: {p.move}")
        elif "/claims/" in p.path:
            notes.append(p)
        elif p.committed in DIRECTIONS:  # a comparison's direction: the interval of a claim's input
            if not claim_paths:
                problems.append(f"{p.path}: verdict moved without a claim of its file: {p.move}")
        elif p.path.replace("/verdicts/", "/claims/") not in claim_paths:
            problems.append(f"{p.path}: verdict moved without its claim: {p.move}")
    return notes, problems


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
        differences = environment_differences(committed, fresh)
        strict = not differences
        rule = Rule(0.0, statistical=False) if strict else Rule(tolerance_for(table, rel), statistical=True)
        if rel.stem == MEASUREMENTS:  # the measurements differ by machine, and so does which of them a machine
            # can make (float32 against bf16 needs bf16 hardware); the verdicts both made must agree
            both = set(committed.get("verdicts") or {}) & set(fresh.get("verdicts") or {})
            committed, fresh = ({"verdicts": {k: r["verdicts"][k] for k in sorted(both)}} for r in (committed, fresh))
        found, worst = compare(committed, fresh, rule)
        notes, found = margin_notes(found, differences)
        status = "identical" if worst == 0 and not (found or notes) else ("within tolerance" if not found else "DIFFERS")
        if notes and not found:
            status += f", {len(notes)} claim(s) at the margin"
        report.append(f"{str(rel):<36} largest |diff| {worst:.4g} (tolerance {rule.tolerance:g}, "
                      f"{describe_rule(rule, committed, fresh)}): {status}")
        if notes:
            report += [f"    {n}" for n in notes] + [f"    (made in another environment: {'; '.join(differences)})"]
        problems += [f"{rel}: {p}" for p in found]
        if found and differences:  # say what made the bits differ, so the user can match it
            hint = [THREADS_HINT] if any(d.startswith("threads:") for d in differences) else []
            problems.append(f"{rel}: made in another environment ({'; '.join(differences)})"
                            + "".join(f"; {h}" for h in hint))
    return report, problems


def main(argv: list[str] | None = None) -> int:
    """The command line: exit status 0 (reproduces), 1 (differs) or 2 (bad input)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog="The rule for each file: python -m pydoc extractive_core.reproduce")
    parser.add_argument("committed", type=Path, metavar="COMMITTED_RESULTS_DIR", help="e.g. results")
    parser.add_argument("fresh", type=Path, metavar="FRESH_RESULTS_DIR", help="the fresh run's results folder")
    args = parser.parse_args(argv)
    with bad_input_exits(PROG):
        report, problems = compare_dirs(results_folder(args.committed, "committed results"),
                                        results_folder(args.fresh, "fresh results"))
    print("\n".join(report))
    if problems:
        print(f"\n{len(problems)} difference(s) beyond tolerance or in verdicts:")
        print("\n".join(f"  {p}" for p in problems[:50]))
        return 1
    margin = sum("verdict at the margin" in line for line in report)
    print("fresh results reproduce the committed ones (each number by its rule, verdicts identical"
          + (f" but {margin} at the margin, listed above)" if margin else ")"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
