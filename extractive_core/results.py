"""Where results and figures go, and writing them whole (never half a file)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def output_root() -> Path:
    """``$EXTRACTIVE_OUTPUT`` if set, else the repository root (results/ and figures/)."""
    env = os.environ.get("EXTRACTIVE_OUTPUT")
    return Path(env) if env else Path(__file__).resolve().parents[1]


def results_path(model: str, name: str) -> Path:
    """``results/<model>/<name>.json``."""
    return output_root() / "results" / model / f"{name}.json"


def figure_path(model: str, name: str) -> Path:
    """``figures/<model>/<name>.png``."""
    return output_root() / "figures" / model / f"{name}.png"


def write_atomic(path: Path, text: str | bytes) -> Path:
    """Write ``path`` through a temporary file and a rename, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, path)
    return path


def save_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return write_atomic(path, json.dumps(data, indent=1) + "\n")


def load_json(path: Path) -> Any:
    """Read a results file."""
    return json.loads(Path(path).read_text())


FIGURE_FORMATS = ("png", "pdf")  # PNG for the book, PDF (vector) for papers


def save_figure(fig: Any, path: Path, formats: tuple[str, ...] = FIGURE_FORMATS) -> Path:
    """Save a matplotlib figure at ``path`` (its .png) and beside it in the other
    ``formats``, each atomically; PDFs carry no creation date, so they repeat bit for bit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".{fmt}")
        os.close(fd)
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt, metadata=metadata)
        os.replace(tmp, target)
    return path
