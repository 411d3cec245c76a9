"""Where results and figures go (``results/<model>/<name>.json``, ``figures/<model>/<name>.png``),
written whole through ``storage``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .settings import output_root
from .storage import atomic_path, load_json, save_json

__all__ = ["output_root", "results_path", "figure_path", "save_json", "load_json", "FIGURE_FORMATS", "save_figure"]


def results_path(model: str, name: str) -> Path:
    """``results/<model>/<name>.json``."""
    return output_root() / "results" / model / f"{name}.json"


def figure_path(model: str, name: str) -> Path:
    """``figures/<model>/<name>.png``."""
    return output_root() / "figures" / model / f"{name}.png"


FIGURE_FORMATS = ("png", "pdf")  # PNG for the book, PDF (vector) for papers


def save_figure(fig: Any, path: Path, formats: tuple[str, ...] = FIGURE_FORMATS) -> Path:
    """Save a matplotlib figure at ``path`` (its .png) and beside it in the other
    ``formats``, each atomically; PDFs carry no creation date, so they repeat bit for bit."""
    for fmt in formats:
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(path.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt, metadata=metadata)
    return path
