"""Does the reproduction check pass under the numeric settings in which machines differ?
Runs the toy-model part of every notebook (the part ``make test`` runs in full) under each
setting and compares its results with the committed ones by ``extractive_core.reproduce``'s
rules, as ``make test`` would on a machine that differs in that setting.

    python tools/cross_machine.py ATEN_CPU_CAPABILITY=avx2 "MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1" ...

Each argument is one setting: space-separated VAR=VALUE pairs (an empty string: as run).
Results go to ``_build/cross_machine/<n>/``; the report ends with one line per setting.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nbformat
from papermill.parameterize import parameterize_notebook

from extractive_core.errors import ParameterError, bad_input_exits
from extractive_core.reproduce import compare_dirs
from extractive_core.settings import SETTINGS, environ_with

ROOT = Path(__file__).resolve().parents[1]
# What the notebooks' toy calls pass besides their toy_* parameters.
TOY_CALL = {"02_extractive_scores": {"exact_hops": None, "exact_layer_stride": 1},
            "03_layer_freezing": {"band_stride": 1}, "06_model_sweep": {"lrs": None}}
NOT_TOY = ("08_reproducibility",)  # its toy model only enters the precision comparison, not a results file


def toy_parameters(nb: nbformat.NotebookNode) -> dict | None:
    """The notebook run on its toy model alone, with the toy call's parameters; None if it has none."""
    source = "\n".join(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    defaults: dict = {}
    exec(source, defaults)
    if not defaults.get("toy_model"):
        return {} if "base" in defaults else None  # the toy world's own notebook runs as it is
    toy = {k[4:]: v for k, v in defaults.items() if k.startswith("toy_") and k != "toy_model"}
    return {"model": defaults["toy_model"], "toy_model": None, **toy}


def parse_setting(setting: str) -> dict[str, str]:
    """A setting's variables: its space-separated ``VAR=VALUE`` pairs. A pair without ``=`` or a
    name, or an ``EXTRACTIVE_`` name that is not a setting, is a ``ParameterError``."""
    bad = [pair for pair in setting.split() if "=" not in pair or pair.startswith("=")]
    if bad:
        raise ParameterError(f"{setting!r}: {', '.join(bad)} is not VAR=VALUE; each argument is one setting, "
                             "space-separated VAR=VALUE pairs of environment variables (e.g. ATEN_CPU_CAPABILITY=avx2 "
                             f"MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1, or {', '.join(SETTINGS)}), or '' for as run")
    variables = dict(pair.split("=", 1) for pair in setting.split())
    try:
        environ_with(variables)  # where the EXTRACTIVE_ names are checked
    except KeyError as err:
        raise ParameterError(f"{setting!r}: {err.args[0]}") from None
    return variables


def run_setting(index: int, setting: str, variables: dict[str, str]) -> tuple[str, float, list[str], list[str]]:
    out = ROOT / "_build" / "cross_machine" / str(index)
    env = environ_with(variables, EXTRACTIVE_OUTPUT=str(out), EXTRACTIVE_RUN_CACHE=str(out / "runs"),
                       EXTRACTIVE_PROGRESS="0", EXTRACTIVE_PROBE_SETTINGS="0")
    start = time.perf_counter()
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        params = toy_parameters(nb)
        if params is None or path.stem in NOT_TOY:
            continue
        params.update(TOY_CALL.get(path.stem, {}))
        if "band_lrs" in params:  # the band map of a toy model runs on all its seeds
            params["band_seeds"] = params["seeds"]
        copy = out / "notebooks" / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(parameterize_notebook(nb, params) if params else nb, copy)
        print(f"[{setting or 'as run'}] {path.stem} {params}", flush=True)
        subprocess.run([sys.executable, "-m", "papermill", "--log-level", "WARNING", str(copy), str(copy)],
                       env=env, cwd=copy.parent, check=True)
    seconds = time.perf_counter() - start
    toy_files = {p.relative_to(out / "results") for p in (out / "results").glob("*/*.json")}
    committed = out / "committed"
    for rel in toy_files:  # compare only what the toy runs made
        (committed / rel).parent.mkdir(parents=True, exist_ok=True)
        (committed / rel).write_bytes((ROOT / "results" / rel).read_bytes())
    tolerances = ROOT / "results" / "gemma3_270m" / "reproducibility.json"
    (committed / "gemma3_270m").mkdir(parents=True, exist_ok=True)
    (committed / "gemma3_270m" / "reproducibility.json").write_bytes(tolerances.read_bytes())
    (out / "results" / "gemma3_270m").mkdir(parents=True, exist_ok=True)
    (out / "results" / "gemma3_270m" / "reproducibility.json").write_text("{}")
    report, problems = compare_dirs(committed, out / "results")
    return setting, seconds, report, problems


def main(argv: list[str]) -> int:
    """The command line (see the module's notes): exit status 0, 1 (a setting differs) or 2 (bad input)."""
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    with bad_input_exits("python tools/cross_machine.py"):  # every setting checked before anything runs
        settings = [parse_setting(setting) for setting in argv]
    summary, failed = [], False
    for i, (setting, variables) in enumerate(zip(argv, settings)):
        name, seconds, report, problems = run_setting(i, setting, variables)
        print("\n".join(report))
        print("\n".join(f"  {p}" for p in problems[:20]))
        failed |= bool(problems)
        summary.append(f"{name or 'as run':<45} {seconds:6.0f} s  {'REPRODUCES' if not problems else f'{len(problems)} differences'}")
    print("\nsetting                                       seconds  check\n" + "\n".join(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
