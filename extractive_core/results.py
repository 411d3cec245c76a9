"""Where results and figures go (``results/<model>/<name>.json``, ``figures/<model>/<name>.png``),
written whole through ``storage``. A hub id names its folder as the Hugging Face cache does:
``Qwen/Qwen2-7B`` (or ``hf:Qwen/Qwen2-7B``) is ``Qwen--Qwen2-7B`` (``model_folder``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ParameterError
from .settings import output_root
from .storage import atomic_path, load_json, save_json

__all__ = ["output_root", "model_folder", "results_path", "figure_path", "save_json", "load_json", "FIGURE_FORMATS",
           "save_figure"]


HUB_PREFIX = "hf:"  # ``hf:Qwen/Qwen2-7B``: a Hugging Face hub id, said explicitly


def results_folder(path: Path, what: str = "results") -> Path:
    """``path``, a folder of results files, or a ``ParameterError`` naming it (``what``: which
    results, for the message)."""
    if not Path(path).is_dir():
        raise ParameterError(f"no {what} folder at {path}: run the notebooks first (make notebooks), or pass "
                             "the folder that holds <model>/<name>.json")
    return Path(path)


def model_folder(model: str) -> str:
    """The one folder name of ``model`` wherever a model name becomes a path (results,
    figures, the run cache, ``$EXTRACTIVE_MODEL_DIR``, a params file): a plain name is
    itself; a hub id loses ``hf:`` and has ``/`` written ``--`` (``Qwen--Qwen2-7B``), which
    the hub forbids inside an id, so the folder name gives the id back."""
    model = model.removeprefix(HUB_PREFIX)
    return model.replace("/", "--")


def results_path(model: str, name: str) -> Path:
    """``results/<model>/<name>.json`` under ``output_root()`` (``settings.output_root``: the
    checkout, ``$EXTRACTIVE_OUTPUT`` or the current folder; a hub id's folder: ``model_folder``)."""
    return output_root() / "results" / model_folder(model) / f"{name}.json"


def figure_path(model: str, name: str) -> Path:
    """``figures/<model>/<name>.png`` under ``output_root()`` (a hub id's folder: ``model_folder``)."""
    return output_root() / "figures" / model_folder(model) / f"{name}.png"


FIGURE_FORMATS = ("png", "pdf")  # PNG for the book, PDF (vector) for papers


def save_figure(fig: Any, path: Path, formats: tuple[str, ...] = FIGURE_FORMATS) -> Path:
    """Save a matplotlib figure at ``path`` (its .png) and beside it in the other
    ``formats``, each atomically; PDFs carry no creation date, so they repeat bit for bit."""
    for fmt in formats:
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(path.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt, metadata=metadata)
    return path
