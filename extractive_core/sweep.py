"""The learning-rate x epochs sweep (the authors' public sweeps): first-hop and second-hop
OCR over a grid, on one machine or on a Slurm cluster.

With a constant learning rate the first k epochs of a longer run *are* the k-epoch run (same
data order, same updates), so each (hop, lr, seed) is one run of the grid's largest epoch
count, and every epoch count is read off its per-epoch log. A sweep is a list of such
independent runs (``SweepRun``); ``run_sweep`` runs them here one after another
(``executor="local"``) or as a job array through submitit (``"slurm"``, or
``"submitit_local"``, submitit's local executor, which tests that path without a cluster),
and gathers the logs into one results dict.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from . import freezing
from .claim_rules import LEARNED, facts_learned, ocr_strength
from .datasets import HOPS, implication_chance
from .errors import ParameterError
from .numerics import provenance
from .two_hop_runs import check_hops, resolve_recipe, two_hop_run
from .params import check_distinct, check_list, check_lr, check_seeds, load_params
from .stats import interval_text, summarise

if TYPE_CHECKING:
    from .models import LoadedModel

EXECUTORS = ("local", "slurm", "submitit_local")


@dataclass(frozen=True)
class SweepRun:
    """One finetuning run of the sweep: its log gives every epoch count up to ``epochs``."""

    model: str
    hop: str
    lr: float
    epochs: int
    seed: int


@dataclass(frozen=True)
class Grid:
    """A sweep's grid, checked: distinct lrs (floats), epoch counts (sorted, each >= 1),
    seeds and hops."""

    lrs: list[float]
    epochs: list[int]
    seeds: list[int]
    hops: list[str]

    @classmethod
    def of(cls, lrs: object, epochs: object, seeds: object, hops: object = HOPS) -> Grid:
        """The grid of these values: a single value or papermill's text (``"[4, 8]"``) is a
        list; a bad or repeated value is a ``ParameterError`` before anything runs."""
        rates = [check_lr(x) for x in check_list(lrs, "lrs", (int, float), "[1e-5, 3e-5, 1e-4]")]
        check_distinct([f"{lr:g}" for lr in rates], "lrs", "results are keyed by the lr to 6 significant digits, "
                                                          "so a repeat would count its runs twice in one cell")
        counts = check_list(epochs, "epochs", int, "[2, 4, 6, 8]")
        if any(e < 1 for e in counts):
            raise ParameterError(f"epochs must be >= 1 (each a count read off the longest run's log), got {counts}")
        check_distinct(counts, "epochs", "each epoch count is one cell of the grid")
        return cls(rates, sorted(counts), check_seeds(seeds), check_hops(hops))


def plan(model: str, lrs: Sequence[float], epochs: Sequence[int], seeds: Sequence[int],
         hops: Sequence[str] = HOPS) -> list[SweepRun]:
    """The runs a grid needs: one per hop x lr x seed, as long as the largest epoch count."""
    return runs_of(model, Grid.of(lrs, epochs, seeds, hops))


def runs_of(model: str, grid: Grid) -> list[SweepRun]:
    """``plan`` of a checked grid."""
    load_params(model)  # an unknown model fails here, before anything is submitted
    return [SweepRun(model, hop, lr, max(grid.epochs), seed)
            for hop in grid.hops for lr in grid.lrs for seed in grid.seeds]


GRID_STEPS = (1 / 3, 1.0, 10 / 3)  # around the recipe lr, in the authors' half-decade steps


def default_lrs(model: str, steps: Sequence[float] = GRID_STEPS) -> list[float]:
    """A grid that brackets ``model``'s recipe lr: lr/3, lr, 10 lr/3, to one significant
    digit (3e-5 gives 1e-5, 3e-5, 1e-4; the authors' 7B grid is 3e-6 x (1/3, 1, 10/3, 10))."""
    lr = load_params(model).recipe.lr
    return [float(f"{lr * k:.0e}") for k in steps]


def cell_runs(results: dict[str, Any], hop: str) -> list[tuple[float, int, dict[str, list[float]]]]:
    """Per (lr, epochs) cell of ``hop``, its runs' per-seed implication rank ``before``
    training and ``final`` (at the cell's epoch) and the ``facts_final`` rank, read off the
    runs' logs."""
    out = []
    for lr in results["lrs"]:
        mine = [run for run in results["runs"] if run["hop"] == hop and run["lr"] == lr]
        for e in results["epochs"]:
            out.append((lr, int(e), {"before": [m["test_rank"][0] for m in mine],
                                     "final": [m["test_rank"][e] for m in mine],
                                     "facts_final": [m["train_rank"][e] for m in mine]}))
    return out


def findings(results: dict[str, Any]) -> list[str]:
    """Per hop: the grid cell with the lowest implication rank, and the cells where OCR is
    clear with the facts learned: the OCR rule's "agrees" (``claim_rules.ocr_strength``, on
    the cell's per-seed ranks: fell, to an interval below half of chance) and
    ``claim_rules.facts_learned``. With one seed there is no interval, so no cell is tested:
    the line says so and counts the cells whose one run ended below half of chance, as a
    description."""
    lines, chance = [], results["chance"]
    one_seed = len(results["seeds"]) < 2
    for hop, per_lr in results["hops"].items():
        cells = [(lr, e, c) for lr, by_epoch in per_lr.items() for e, c in by_epoch.items()]
        lr, e, best = min(cells, key=lambda x: x[2]["implication"]["mean"])
        runs = cell_runs(results, hop)
        below = [f"lr {lr_:g} x {e_} epochs" for lr_, e_, r in runs if facts_learned(r["facts_final"]) and (
            r["final"][0] < chance / 2 if one_seed else ocr_strength(r["before"], r["final"], chance) == "agrees")]
        clear = ("one seed, so no cell's OCR is tested (no interval); its run ended below half of chance" if one_seed
                 else "clear OCR (the OCR rule's \"agrees\")") + f" with the facts learned in {len(below)} of {len(runs)} cells"
        lines.append(f"**{hop.replace('_', '-')}**: lowest implication rank {interval_text(best['implication'])} "
                     f"at lr {lr}, {e} epochs; {clear}" + (f" ({', '.join(below)})." if below else "."))
    return lines


BEST_CELL_RULE = ("among the sweep's (lr, epochs) cells whose facts are learned (every seed's final training-fact "
                  f"rank < {LEARNED:g}), the one with the lowest mean final implication rank; ties go to the smaller "
                  "lr, then to fewer epochs")


def best_cell(results: dict[str, Any], hop: str) -> dict[str, Any]:
    """The sweep's best cell for ``hop``'s OCR, by this rule: among the sweep's (lr, epochs)
    cells whose facts are learned (``claim_rules.facts_learned`` on the cell's per-seed fact
    ranks: every seed's final training-fact rank < ``LEARNED``), the one with the lowest mean final implication rank;
    ties go to the smaller lr, then to fewer epochs. A cell with a lower implication rank but
    unlearned facts is never chosen: there OCR is not tested. ``results``: ``run_sweep``'s.
    Returns ``{"lr", "epochs", "implication", "fact", "rule"}``: the cell, its two summaries
    over seeds, and the rule in words. A ``ParameterError`` if no cell learned its facts."""
    if hop not in results.get("hops", {}):
        raise ParameterError(f"the sweep has no {hop!r} cells; it has {sorted(results.get('hops', {}))}")
    lrs = {f"{lr:g}": float(lr) for lr in results.get("lrs", [])}
    cells = [(lrs.get(lr, float(lr)), int(e), c) for lr, by_epoch in results["hops"][hop].items()
             for e, c in by_epoch.items()]
    learned = [cell for cell in cells if facts_learned(cell[2]["fact"]["values"])]
    if not learned:
        lowest = min(max(c["fact"]["values"]) for _, _, c in cells)
        raise ParameterError(f"no cell of the {hop} sweep learned its facts (every seed's final fact rank < {LEARNED:g}); "
                             f"the lowest worst-seed fact rank is {lowest:.2f}: try more epochs or a larger lr")
    lr, epochs, c = min(learned, key=lambda cell: (cell[2]["implication"]["mean"], cell[0], cell[1]))
    return {"lr": lr, "epochs": epochs, "implication": c["implication"], "fact": c["fact"], "rule": BEST_CELL_RULE}


_LOADED: dict[str, Any] = {}


def loaded_model(name: str) -> LoadedModel:
    """Model ``name``, loaded once per process: a local sweep's runs and any work after the
    sweep in the same process (freezing at its best cell) share one load."""
    from .models import load_model

    if name not in _LOADED:
        _LOADED.clear()
        _LOADED[name] = load_model(name)
    return _LOADED[name]


def execute(run: SweepRun) -> dict[str, Any]:
    """Train (or reuse from the run cache) one sweep run; its per-epoch ranks. The model is
    loaded once per process, so a local sweep loads it once and each cluster job once."""
    lm = loaded_model(run.model)
    recipe = resolve_recipe(lm, run.lr, run.epochs, None)
    result = two_hop_run(lm, run.hop, run.seed, recipe, progress=False)
    return {**asdict(run), "train_rank": result.ranks("train"), "test_rank": result.ranks("test"),
            "seconds": round(result.seconds["total"], 2)}


def run_sweep(model: str, lrs: Sequence[float], epochs: Sequence[int], seeds: Sequence[int] = (0,),
              hops: Sequence[str] = HOPS, executor: str = "local", folder: str | Path = "runs/sweep",
              partition: str | None = None, gpus: int = 1, time_min: int = 60) -> dict[str, Any]:
    """Run the grid's runs with ``executor`` and gather them: per hop, lr and epoch count,
    the implication (and fact) rank per seed, its mean and interval. ``partition``, ``gpus``
    and ``time_min`` are the Slurm job's; ``folder`` holds submitit's logs."""
    if executor not in EXECUTORS:
        raise ParameterError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    grid = Grid.of(lrs, epochs, seeds, hops)  # checked once, used from the plan to the gathering
    runs = runs_of(model, grid)
    clock = time.perf_counter()
    if executor == "local":
        logs = [execute(r) for r in runs]
    else:
        logs = _submit(runs, executor, Path(folder), partition, gpus, time_min)
    out = gather(logs, grid.epochs)
    out.update(model=model, executor=executor, claims={}, provenance=provenance(None, time.perf_counter() - clock))
    return out


def freezing_at_best(lm: LoadedModel, results: dict[str, Any], seeds: Sequence[int],
                     hop: str = "second_hop") -> dict[str, Any]:
    """Layer freezing after training (rows None, Early, Late, All) on ``hop`` at the sweep's
    best cell for it (``best_cell``'s rule): where the recipe shows little OCR, the claim
    that the hop's OCR needs a block's update is tried where the sweep's seeds found the most;
    whether these seeds show OCR there is the claim's precondition (``claim_rules.shows_ocr``). The
    ``seeds`` must be others than the sweep's: the cell was chosen on the sweep's seeds, and
    testing on the runs that won the choice would favour the claim (the winner's curse)."""
    seeds = check_seeds(seeds)
    reused = sorted(set(seeds) & set(results["seeds"]))
    if reused:
        raise ParameterError(f"freezing at the best cell needs seeds the sweep did not run, but {reused} chose the "
                             f"cell (sweep seeds {results['seeds']}): pass others, e.g. "
                             f"{[max(results['seeds']) + 1 + i for i in range(len(seeds))]}")
    cell = best_cell(results, hop)
    return {"cell": cell, **freezing.run_layer_freezing(lm, seeds=seeds, hops=[hop], lr=cell["lr"], epochs=cell["epochs"],
                                               pre=False)}


def claims(results: dict[str, Any]) -> dict[str, Any]:
    """The freezing claim at the best second-hop cell (``freezing.claims`` on the rows of
    ``freezing_at_best``), where that ran."""
    at = results.get("freezing_at_best")
    got = freezing.claims(at) if at else {}
    return {"second_hop_at_best": got["second_hop"]} if "second_hop" in got else {}


def _submit(runs: list[SweepRun], executor: str, folder: Path, partition: str | None, gpus: int,
            time_min: int) -> list[dict[str, Any]]:
    """One submitit job per run (a job array on Slurm); waits for all and returns their logs."""
    try:
        import submitit
    except ImportError:
        raise ParameterError("executor 'slurm' needs submitit: pip install submitit") from None
    pool: Any
    if executor == "slurm":
        if not partition:
            raise ParameterError("executor 'slurm' needs a partition (e.g. partition='gpu')")
        pool = submitit.AutoExecutor(folder=folder, cluster="slurm")
        pool.update_parameters(slurm_partition=partition, gpus_per_node=gpus, timeout_min=time_min,
                               cpus_per_task=8, name="extractive-sweep")
    else:
        pool = submitit.LocalExecutor(folder=folder)
        pool.update_parameters(timeout_min=time_min)
    jobs = pool.map_array(execute, runs)
    return [job.result() for job in jobs]


def gather(logs: list[dict[str, Any]], epochs: list[int]) -> dict[str, Any]:
    """Per hop -> lr -> epoch count: implication and fact ranks summarised over seeds."""
    hops = list(dict.fromkeys(log["hop"] for log in logs))
    out: dict[str, Any] = {"lrs": sorted({log["lr"] for log in logs}), "epochs": epochs,
                           "seeds": sorted({log["seed"] for log in logs}),
                           "chance": implication_chance(hops), "hops": {}, "runs": logs}
    for hop in hops:
        per_lr: dict[str, Any] = {}
        for lr in out["lrs"]:
            mine = [log for log in logs if log["hop"] == hop and log["lr"] == lr]
            per_lr[f"{lr:g}"] = {str(e): {"implication": summarise([m["test_rank"][e] for m in mine]),
                                          "fact": summarise([m["train_rank"][e] for m in mine])} for e in epochs}
        out["hops"][hop] = per_lr
    return out
