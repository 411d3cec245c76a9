"""The numeric environment: what decides the bits of a result on a CPU, recorded with every
result and every cached run.

The same seed gives other bits under another thread count, another CPU capability that
torch's kernels dispatch to (``ATEN_CPU_CAPABILITY``), another code path of MKL
(``MKL_CBWR``) or of oneDNN (``ONEDNN_MAX_CPU_ISA``). ``environment()`` records all of
them; the reproduction notes in the book say which of them change the committed numbers.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .events import STATS
from .settings import numeric_variables

PACKAGES = ("torch", "transformers", "numpy", "safetensors", "extractive-structures-edition")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    for line in cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
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
        "variables": numeric_variables(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def provenance(model: torch.nn.Module | None, seconds: float) -> dict[str, Any]:
    """What produced a result: the numeric environment, the model's dtype, the wall time
    and what the run cache reused. Never compared when checking reproduction."""
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.") if model is not None else None
    return {**environment(model), "dtype": dtype, "seconds": round(seconds, 1),
            "run_cache": {"hits": STATS.hits, "trained": STATS.misses}}


def native_bf16() -> bool:
    """Whether bf16 matmuls run in hardware here: a CUDA GPU that supports bf16, or a CPU
    with AVX-512 bf16 or AMX that oneDNN is allowed to use. Elsewhere torch emulates bf16 on
    the CPU, dozens of times slower than float32 (a gemma3_270m run took about 500 s instead
    of 30 s), so comparing precisions there measures the emulation, not the precision. A CPU
    that has the instructions but runs under ``ONEDNN_MAX_CPU_ISA=AVX2`` (how an AVX2 machine
    is emulated) emulates bf16 too: a bf16 matmul took 600-900 times a float32 one (measured
    on an Intel Xeon with AMX)."""
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    flags = cpuinfo()
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and onednn_bf16()


def cpuinfo() -> str:
    """The CPU's model and flags as Linux lists them (``/proc/cpuinfo``); empty where it cannot be read."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def onednn_bf16() -> bool:
    """Whether oneDNN, which runs torch's bf16 matmuls on a CPU, may use bf16 instructions
    (it honours ``ONEDNN_MAX_CPU_ISA``). A torch build without the check: the CPU's flags decide."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return True if check is None else bool(check())


SAME_BITS_KEYS = ("cpu_model", "cpu_capability", "threads", "packages", "variables", "device")


def environment_differences(committed: Any, fresh: Any) -> list[str]:
    """What differs between two results' numeric environments (their ``provenance``), one
    ``"key: committed -> fresh"`` line per key of ``SAME_BITS_KEYS``; packages and variables
    name only the entries that differ. A result without a recorded environment differs."""
    a, b = (r.get("provenance", {}) if isinstance(r, dict) else {} for r in (committed, fresh))
    if "cpu_model" not in a:
        return ["committed: no recorded environment"]
    found = []
    for key in SAME_BITS_KEYS:
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            found += [f"{key}[{k}]: {x.get(k)} -> {y.get(k)}" for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
        else:
            found.append(f"{key}: {x} -> {y}")
    return found


def same_environment(committed: Any, fresh: Any) -> bool:
    """Whether two results were produced where the bits should be identical: same CPU,
    capability, threads, package versions and numeric variables (their ``provenance``)."""
    return not environment_differences(committed, fresh)
