"""Every ``EXTRACTIVE_*`` setting of the process: read from the environment here, and only here.

A variable is read when it is asked for, not at import (a test or a caller may change it in
between), through one parser per kind: a switch (``1``, ``true``, ``yes``, ``on`` or ``0``,
``false``, ``no``, ``off``, in any case), a whole number >= 1, a path, or a folder that may
also be switched off. An empty variable counts as unset. A value that is none of these
raises ``ParameterError`` naming the variable, the value and what it accepts, and so does a
folder that cannot be created. ``SETTINGS`` lists every variable with its meaning and
default; the README's settings table shows the same list (a test compares them).

The numeric variables of other libraries (``MKL_CBWR``, ...) are read here too
(``numeric_variables``), and subprocess environments are built here (``environ_with``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .errors import ParameterError


@dataclass(frozen=True)
class Setting:
    """One environment variable: what it does and its default, as the README's table says
    them; ``internal`` ones are set by the project's own tools, never by a user."""

    name: str
    meaning: str
    default: str
    internal: bool = False


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("EXTRACTIVE_THREADS", "torch CPU threads (notebooks also take `-p threads N`); toy models pretrain, and "
            "train their seeds, on one thread each, this many side by side", "all cores"),
    Setting("EXTRACTIVE_PARAMS", "folders of your own params files (`:`-separated), looked up before the built-in "
            "ones (`extractive_core/model_params/`)", "unset"),
    Setting("EXTRACTIVE_CACHE", "dequantised and pretrained checkpoints", "`~/.cache/extractive_structures`"),
    Setting("EXTRACTIVE_PRETRAIN", "`1` pretrains toy models instead of copying the shipped ones "
            "(`extractive_core/toy_checkpoints/`); `make all PRETRAIN=1` also ships the fresh ones", "`0`"),
    Setting("EXTRACTIVE_MODEL_DIR", "local copies of hub models, one folder per model name", "unset"),
    Setting("EXTRACTIVE_OUTPUT", "where `results/` and `figures/` are written", "the repository in a checkout, "
            "else the current folder"),
    Setting("EXTRACTIVE_PROGRESS", "`0` turns progress bars off (the main job does, for the committed notebooks)",
            "on"),
    Setting("EXTRACTIVE_RUN_CACHE", "`0` turns the cache of finetuning runs off; a folder path puts it there",
            "on, in `$EXTRACTIVE_CACHE/runs`"),
    Setting("EXTRACTIVE_PROBE_SETTINGS", "`0` skips the reproduction notes' probes under other numeric settings "
            "(`make test` does)", "on"),
    Setting("EXTRACTIVE_RUN_STATS", "a JSON-lines file that cache events are appended to "
            "(`tools/run_notebooks.py` sets it for its time table)", "unset", internal=True),
    Setting("EXTRACTIVE_BROWSER", "`1` makes a missing book, browser or driver fail the browser test instead "
            "of skipping it (`make test` sets it)", "`0`", internal=True),
)}

# Read by torch, MKL and oneDNN when they first run; they decide a result's bits on a CPU.
NUMERIC_VARIABLES = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                     "OMP_NUM_THREADS")

ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")
PACKAGE = Path(__file__).resolve().parent  # the folder of extractive_core, in a checkout or installed


# The parsers, one per kind of value.

def _raw(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    if name not in SETTINGS:
        raise KeyError(f"{name} is not a setting; the settings are {', '.join(SETTINGS)}")
    return os.environ.get(name) or None


def _accepts(name: str, what: str, value: str) -> ParameterError:
    return ParameterError(f"{name} must be {what}, got {value!r}")


SWITCH = f"one of {', '.join(ON)} (on) or {', '.join(OFF)} (off)"


def _word(value: str) -> bool | None:
    """True or False for a switch word, None for anything else."""
    word = value.strip().lower()
    return True if word in ON else False if word in OFF else None


def switch(name: str, default: bool) -> bool:
    """A yes/no setting."""
    value = _raw(name)
    if value is None:
        return default
    on = _word(value)
    if on is None:
        raise _accepts(name, SWITCH, value)
    return on


def whole_number(name: str) -> int | None:
    """A whole number >= 1, or None when unset."""
    value = _raw(name)
    if value is None:
        return None
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit() and int(digits) >= 1):
        raise _accepts(name, "a whole number >= 1", value)
    return int(digits)


def path(name: str) -> Path | None:
    """A path (``~`` expanded), or None when unset; nothing is created."""
    value = _raw(name)
    return Path(value).expanduser() if value is not None else None


def folder(name: str, default: Callable[[], Path]) -> Path:
    """A folder (``default()`` when unset), created if missing."""
    given = path(name)
    return _created(name, given if given is not None else default(), given is None)


def folder_or_off(name: str, default: Callable[[], Path]) -> Path | None:
    """None when switched off; ``default()`` when unset or switched on; else the folder it
    names. The folder is created if missing."""
    value = _raw(name)
    on = _word(value) if value is not None else True
    if on is False:
        return None
    if on is True:
        return _created(name, default(), True)
    return folder(name, default)


def _created(name: str, where: Path, is_default: bool) -> Path:
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        shown = f"unset (its default is {where})" if is_default else str(where)
        raise ParameterError(f"{name} must name a folder that can be created here, got {shown}: "
                             f"{err.strerror or err}; set {name} to a writable folder") from None
    return where


# The settings, each read through its parser.

def cache_dir() -> Path:
    """``$EXTRACTIVE_CACHE`` if set, else ``~/.cache/extractive_structures`` (created)."""
    return folder("EXTRACTIVE_CACHE", lambda: Path.home() / ".cache" / "extractive_structures")


def run_cache_dir() -> Path | None:
    """Where finetuning runs are cached: None when ``EXTRACTIVE_RUN_CACHE`` is off, the folder
    it names, else ``cache_dir()/runs`` (created)."""
    return folder_or_off("EXTRACTIVE_RUN_CACHE", lambda: cache_dir() / "runs")


def checkout() -> Path | None:
    """The repository root when the package runs from a checkout (the source tree, or an
    editable install of it): the package folder's parent holds ``pyproject.toml`` and
    ``notebooks/``. None for an installed copy (a wheel, ``pip install <repository url>``)."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def output_root() -> Path:
    """Where ``results/`` and ``figures/`` are written (created), the one rule for it:
    ``$EXTRACTIVE_OUTPUT`` if set; else the repository root when the package runs from a
    checkout (``checkout()``); else the current working directory at the call, so that an
    installed package never writes beside its own files in site-packages."""
    return folder("EXTRACTIVE_OUTPUT", lambda: checkout() or Path.cwd())


def params_folders() -> list[Path]:
    """The folders in ``$EXTRACTIVE_PARAMS`` (separated by ``os.pathsep``), first first."""
    value = _raw("EXTRACTIVE_PARAMS") or ""
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def model_dir() -> Path | None:
    """``$EXTRACTIVE_MODEL_DIR``: local copies of hub models, one folder per name."""
    return path("EXTRACTIVE_MODEL_DIR")


def run_stats_file() -> Path | None:
    """``$EXTRACTIVE_RUN_STATS``: the JSON-lines file cache events are appended to."""
    return path("EXTRACTIVE_RUN_STATS")


def default_threads() -> int:
    """``$EXTRACTIVE_THREADS`` if set, else the cores this process may use."""
    threads = whole_number("EXTRACTIVE_THREADS")
    return threads if threads is not None else len(os.sched_getaffinity(0))


def pretrain_requested() -> bool:
    """``EXTRACTIVE_PRETRAIN`` on: pretrain toy models instead of using the shipped checkpoints."""
    return switch("EXTRACTIVE_PRETRAIN", False)


def probe_settings() -> bool:
    """``EXTRACTIVE_PROBE_SETTINGS`` (on unless switched off): rerun the reproduction probes
    under other numeric settings."""
    return switch("EXTRACTIVE_PROBE_SETTINGS", True)


def browser_required() -> bool:
    """``EXTRACTIVE_BROWSER`` on: a missing book, browser or driver fails instead of skipping."""
    return switch("EXTRACTIVE_BROWSER", False)


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: ``progress`` if given, else ``$EXTRACTIVE_PROGRESS``
    (off, as the main job sets it for the committed notebooks, also silences transformers'
    bars), else on."""
    if progress is None:
        progress = switch("EXTRACTIVE_PROGRESS", True)
    if not progress:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    return progress


def set_threads(threads: int | None) -> int:
    """Set torch's CPU thread count (None: ``$EXTRACTIVE_THREADS``, else all cores)."""
    if threads is None:
        threads = default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError(f"threads must be a whole number >= 1 (or None), got {threads!r}")
    import torch

    torch.set_num_threads(threads)
    return threads


def numeric_variables() -> dict[str, str]:
    """The ``NUMERIC_VARIABLES`` that are set, in that order."""
    return {k: os.environ[k] for k in NUMERIC_VARIABLES if k in os.environ}


def environ_with(overrides: Mapping[str, str] | None = None, **more: str) -> dict[str, str]:
    """This process's environment with ``overrides`` and ``more`` set: a subprocess's
    environment. An ``EXTRACTIVE_*`` name that is not a setting is an error (a typo)."""
    changes = {**(overrides or {}), **more}
    unknown = [k for k in changes if k.startswith("EXTRACTIVE_") and k not in SETTINGS]
    if unknown:
        raise KeyError(f"{', '.join(unknown)}: not a setting; the settings are {', '.join(SETTINGS)}")
    return {**os.environ, **changes}
