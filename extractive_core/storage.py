"""Writing files and folders whole: a reader, or a crash, never sees half of one.

A file is written to a temporary file beside it and renamed over it (``atomic_path``,
``write_atomic``); a folder is filled in a staging folder beside it and renamed
(``replace_dir``). Results, figures, the claims table, cached finetuning runs and model
checkpoints are all written through these. ``load_json`` reads them back, naming a file that
is not JSON.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from .errors import DiskFullError, ParameterError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block
    ends, removed if it fails (``path`` is then as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def save_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, whole."""
    return write_atomic(path, json.dumps(data, indent=1) + "\n")


def load_json(path: Path) -> Any:
    """Read a JSON file; one that is not JSON (cut short, edited by hand) is a ``ParameterError``
    that names it."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"{path} is not valid JSON ({err}): restore it from git (git checkout -- {path}) "
                             "or rerun what wrote it (its chapter's notebook)") from None


def free_bytes(path: Path) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    where = Path(path).absolute()
    while not where.exists():
        where = where.parent
    return shutil.disk_usage(where).free


def require_room(folder: Path, nbytes: int, what: str) -> None:
    """Raise ``DiskFullError`` (naming ``what``, the need, the room and the fix) unless the
    disk of ``folder`` has ``nbytes`` free."""
    free = free_bytes(folder)
    if free < nbytes:
        raise DiskFullError(f"{what} needs {nbytes / 1e9:.1f} GB on the disk of {folder}, which has "
                            f"{free / 1e9:.1f} GB free: free some space there, or set EXTRACTIVE_CACHE to a "
                            "folder on a disk with room")


def disk_full(err: BaseException) -> bool:
    """``err`` says the disk (or the user's quota) is full: an ``OSError`` with that errno, or
    safetensors' writer's error, which carries it as text ("... (os error 28)")."""
    codes = (errno.ENOSPC, errno.EDQUOT)
    if isinstance(err, OSError):
        return err.errno in codes
    return any(f"(os error {code})" in str(err) for code in codes)


def replace_dir(target: Path, fill: Callable[[Path], object]) -> None:
    """Replace the folder ``target`` by what ``fill`` writes into a staging folder beside it,
    through a rename, so ``target`` is whole or absent (a failed ``fill`` leaves it as it was)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        fill(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


class Pretrained(Protocol):
    """A transformers model or tokenizer: anything with ``save_pretrained``."""

    def save_pretrained(self, save_directory: Any, /) -> Any: ...


def save_checkpoint(target: Path, model: Pretrained, tokenizer: Pretrained,
                    side_files: dict[str, Any] | None = None) -> None:
    """Write model, tokenizer and JSON side files to ``target`` (whole or absent)."""

    def fill(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        for name, data in (side_files or {}).items():
            save_json(staging / name, data)

    replace_dir(target, fill)
