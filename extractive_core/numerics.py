"""The numeric environment: what decides the bits of a result on a CPU, recorded with every
result and every cached run.

The same seed gives other bits under another thread count, another CPU capability that
torch's kernels dispatch to (``ATEN_CPU_CAPABILITY``), another code path of MKL
(``MKL_CBWR``) or of oneDNN (``ONEDNN_MAX_CPU_ISA``). ``environment()`` records all of
them; the reproduction notes in the book say which of them change the committed numbers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from importlib import metadata
from typing import Any

import torch

NUMERIC_VARIABLES = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                     "OMP_NUM_THREADS")
PACKAGES = ("torch", "transformers", "numpy", "safetensors", "extractive-structures")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def environment(model: torch.nn.Module | None = None) -> dict[str, Any]:
    """Everything besides the seed that decides a result's bits: packages, CPU capability,
    threads, the numeric environment variables, and the device."""
    device = next(model.parameters()).device if model is not None else torch.device("cpu")
    env: dict[str, Any] = {
        "packages": package_versions(),
        "device": str(device.type),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": cpu_model(),
        "variables": {k: os.environ[k] for k in NUMERIC_VARIABLES if k in os.environ},
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def provenance(model: torch.nn.Module | None, seconds: float) -> dict[str, Any]:
    """What produced a result: the numeric environment, the model's dtype, the wall time
    and what the run cache reused. Never compared when checking reproduction."""
    from .runs import STATS

    dtype = str(next(model.parameters()).dtype).removeprefix("torch.") if model is not None else None
    return {**environment(model), "dtype": dtype, "seconds": round(seconds, 1),
            "run_cache": {"hits": STATS.hits, "trained": STATS.misses}}


def tune_allocator() -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the system after every
    step: a training step frees and re-allocates hundreds of MB of gradients, and each
    fresh page costs a fault. Measured in ``benchmarks/ocr_run.py``. Returns whether it
    applied (glibc only, and not with ``EXTRACTIVE_TUNE_ALLOCATOR=0``); it changes speed,
    never values."""
    path = ctypes.util.find_library("c")
    if os.environ.get("EXTRACTIVE_TUNE_ALLOCATOR", "1") == "0" or platform.system() != "Linux" or not path:
        return False
    try:
        libc = ctypes.CDLL(path)
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        ok = libc.mallopt(m_mmap_threshold, 32 << 20) == 1
        ok &= libc.mallopt(m_trim_threshold, 1 << 34) == 1
        ok &= libc.mallopt(m_top_pad, 512 << 20) == 1
        return bool(ok)
    except (OSError, AttributeError):
        return False
