"""Which numeric settings change a result's bits? Rerun an experiment in a fresh process under
each setting and compare what comes out.

The settings are those that differ between machines of one kind: the thread count, the CPU
capability torch's own kernels dispatch to (``ATEN_CPU_CAPABILITY``), MKL's code path
(``MKL_CBWR``; on a CPU that is not Intel's, MKL honours only ``COMPATIBLE``, so that is the
path another vendor's CPU can be made to share) and oneDNN's instruction set
(``ONEDNN_MAX_CPU_ISA``, which decides whether bf16 matmuls use AMX, AVX-512 bf16 or
emulation). Each probe runs in a subprocess because these variables are read once, when
the libraries first run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from typing import Any, Callable, Mapping

import torch

from .errors import ParameterError
from .settings import environ_with, set_threads

SETTINGS: dict[str, dict[str, str]] = {
    "as run": {},
    "1 thread": {"EXTRACTIVE_THREADS": "1"},
    "2 threads": {"EXTRACTIVE_THREADS": "2"},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
    "ONEDNN_MAX_CPU_ISA=AVX512_CORE": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}


def applicable(settings: Mapping[str, Mapping[str, str]] = SETTINGS, probe: str = "ocr") -> dict[str, dict[str, str]]:
    """The settings that can change anything here (``as run`` first): a capability cap at
    AVX2 where torch already runs AVX2, oneDNN's AVX-512 cap where bf16 is not in hardware
    (it decides only bf16 matmuls), the thread count the run already has
    (``settings.default_threads``: the main job's lanes run on one thread), and any thread
    count for toy pretraining, which always runs on one thread, are the run itself, so
    probing them would only repeat it."""
    from .numerics import native_bf16
    from .settings import default_threads

    capability = torch.backends.cpu.get_cpu_capability()
    skip = set()
    if capability in ("DEFAULT", "AVX2"):
        skip.add("ATEN_CPU_CAPABILITY")
    if not native_bf16():
        skip.add("ONEDNN_MAX_CPU_ISA")
    if probe in ("pretrain", "toy_ocr"):
        skip.add("EXTRACTIVE_THREADS")
    same_threads = {"EXTRACTIVE_THREADS": str(default_threads())}
    return {name: dict(v) for name, v in settings.items()
            if not set(v) & skip and not (v and dict(v) == same_threads)}


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def ocr_probe(model: str, dtype: str | None, hop: str, seed: int) -> dict[str, Any]:
    """One finetuning run with the model's recipe (``under_settings`` turns the run cache
    off, so it really trains): its rank curves and a hash of its weight change."""
    from .datasets import two_hop
    from .models import load_model
    from .params import RunSpec
    from .runs import cached_finetune

    lm = load_model(model, dtype=dtype)
    data = two_hop(hop)
    run = cached_finetune(lm, data.facts, {"train": data.facts, "test": data.implications},
                          RunSpec.of(lm.params, seed=seed), progress=False)
    return {"train_rank": run.ranks("train"), "test_rank": run.ranks("test"), "bits": tensors_sha256(run.delta),
            "seconds": run.seconds["total"]}


def pretrain_probe(steps: int, seed: int) -> dict[str, Any]:
    """A short toy pretraining from scratch: its final loss and a hash of its weights."""
    from dataclasses import replace

    from .pretrain import pretrain
    from .toyworld import ToyConfig

    set_threads(None)
    model, _, log = pretrain(replace(ToyConfig(seed=seed), steps=steps), progress=False)
    return {"loss": log["final_loss"], "bits": tensors_sha256(dict(model.named_parameters())),
            "seconds": log["seconds"]}


def toy_ocr_probe(mode: str, seed: int) -> dict[str, Any]:
    """A whole toy-world experiment: pretrain (in a fresh cache) and finetune both hops."""
    from .pretraining_order import run_pretraining_order

    res = run_pretraining_order(modes=[mode], seeds=[seed], progress=False)
    s = res["modes"][mode]["per_seed"][0]
    return {"pretrain_loss": s["pretrain_loss"], "fact_only_impl_rank": s["fact_only_impl_rank"],
            **{f"{hop}_test_rank": s[hop]["test_rank"] for hop in ("first_hop", "second_hop")},
            "bits": f"{s['pretrain_loss']:.17g}"}


PROBES: dict[str, Callable[..., dict[str, Any]]] = {"ocr": ocr_probe, "pretrain": pretrain_probe, "toy_ocr": toy_ocr_probe}


def under_settings(probe: str, settings: Mapping[str, Mapping[str, str]] = SETTINGS, **kwargs: Any) -> dict[str, Any]:
    """Run ``PROBES[probe](**kwargs)`` in a subprocess per setting; results by setting name.
    The toy checkpoint cache is fresh, and the run cache is off except for the reference
    setting (no variables), whose finetuning run the cache may serve: its key holds the
    threads, CPU capability and code, so a cached run is this very setting's run."""
    if probe not in PROBES:
        raise ParameterError(f"unknown probe {probe!r}; choose from {sorted(PROBES)}")
    out = {}
    for name, variables in settings.items():
        with tempfile.TemporaryDirectory() as scratch:
            changes = {**variables, "EXTRACTIVE_PROGRESS": "0"}
            if variables:
                changes["EXTRACTIVE_RUN_CACHE"] = "0"
            if probe == "toy_ocr":  # pretrained under the setting, never the shipped checkpoint
                changes.update(EXTRACTIVE_CACHE=scratch, EXTRACTIVE_PRETRAIN="1")
            env = environ_with(changes)
            cmd = [sys.executable, "-m", "extractive_core.determinism", probe, json.dumps(kwargs)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"probe {probe} under {name} failed:\n{proc.stderr[-2000:]}")
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def largest_difference(a: Any, b: Any) -> float:
    """The largest absolute difference between the numbers of two probe results (hashes
    and timings left out)."""
    if isinstance(a, dict):
        return max([largest_difference(a[k], b[k]) for k in a if k not in ("bits", "seconds")] or [0.0])
    if isinstance(a, list):
        return max([largest_difference(x, y) for x, y in zip(a, b)] or [0.0])
    return abs(float(a) - float(b)) if a is not None and b is not None else 0.0


def compare_to_reference(results: Mapping[str, Any], reference: str = "as run") -> list[dict[str, Any]]:
    """One row per setting: same bits as the reference?, and the largest difference."""
    ref = results[reference]
    return [{"setting": name, "same bits": r["bits"] == ref["bits"],
             "largest |difference|": largest_difference(ref, r)} for name, r in results.items()]


def main() -> None:
    probe, kwargs = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(PROBES[probe](**kwargs)))


if __name__ == "__main__":
    main()
