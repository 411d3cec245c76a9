"""Errors that name the problem and the fix, raised before any heavy work starts, and
``bad_input_exits``, which ends a command line that met one with a single line."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


class ExtractiveError(Exception):
    """Base class for the project's user-facing errors."""


class UnknownModelError(ExtractiveError, KeyError):
    """A model name with no params file ``<name>.yaml`` (built in: ``extractive_core/model_params/``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class WeightsUnavailableError(ExtractiveError, OSError):
    """Weights that cannot be loaded here (offline, or a missing package or checkpoint)."""


class TokenizerCollisionError(ExtractiveError, ValueError):
    """Two answer options share their first token, so ranks over options are undefined."""


class ParameterError(ExtractiveError, ValueError):
    """A bad experiment parameter (learning rate, epochs, layer range, ...)."""


class DiskFullError(ExtractiveError, OSError):
    """Too little free disk for a file the project must write (a model it caches, say)."""


class TrainingDivergedError(ExtractiveError, FloatingPointError):
    """A loss or logits that are not finite: the numbers would be meaningless."""


@contextmanager
def bad_input_exits(prog: str) -> Iterator[None]:
    """The body of a command line: bad input (an ``ExtractiveError``, which names the problem
    and the fix) ends it with ``prog: message`` on stderr and exit status 2, no traceback."""
    try:
        yield
    except ExtractiveError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        raise SystemExit(2) from None
