"""bf16 weights with float32 master weights and fused Adam: same maths, faster steps."""

import pytest
import torch

from extractive_core.datasets import first_hop
from extractive_core.finetune import applied, finetune
from extractive_core.metrics import mean_rank
from extractive_core.precision import MasterWeightAdam, adam

from conftest import tiny_model


def test_fused_adam_matches_the_reference_implementation():
    torch.manual_seed(0)
    weights = [torch.randn(64, 32), torch.randn(32)]
    grads = [[torch.randn_like(w) for w in weights] for _ in range(5)]
    results = []
    for make in (lambda ps: adam(ps, 1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=False)):
        ps = [w.clone().requires_grad_(True) for w in weights]
        opt = make(ps)
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = g.clone()
            opt.step()
        results.append(ps)
    assert results[0][0].data_ptr() != results[1][0].data_ptr()
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_masters_keep_updates_that_bf16_rounds_away():
    w = torch.nn.Parameter(torch.full((4,), 1.0, dtype=torch.bfloat16))
    opt = MasterWeightAdam([w], lr=1e-4)  # each step moves 1e-4, far below bf16 spacing (2^-8) under 1.0
    for _ in range(100):
        w.grad = torch.ones_like(w)
        opt.step()
    master = opt.weights()[0]
    assert master.dtype == torch.float32
    assert master[0].item() == pytest.approx(1.0 - 100 * 1e-4, abs=1e-5)
    assert w[0].item() == pytest.approx(0.9883, abs=2e-3)  # the model copy follows, rounded once
    plain = torch.nn.Parameter(torch.full((4,), 1.0, dtype=torch.bfloat16))
    pure = torch.optim.Adam([plain], lr=1e-4)
    for _ in range(100):
        plain.grad = torch.ones_like(plain)
        pure.step()
    assert plain[0].item() == 1.0  # pure bf16 Adam loses every one of those updates


def test_bf16_run_delta_is_float32_and_applies_to_the_evaluated_weights(tokenizer):
    model = tiny_model("llama", len(tokenizer)).to(torch.bfloat16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = first_hop(n=8)
    run = finetune(model, tokenizer, data.facts, {"train": data.facts}, lr=3e-3, epochs=6, batch_size=4,
                   progress=False)
    assert all(d.dtype == torch.float32 for d in run.delta.values())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert run.ranks("train")[-1] < run.ranks("train")[0]
    with applied(model, run.delta):
        assert mean_rank(model, tokenizer, data.facts) == run.ranks("train")[-1]
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_bf16_counts_as_native_only_where_onednn_may_use_it(monkeypatch):
    """A CPU with bf16 instructions run under ``ONEDNN_MAX_CPU_ISA=AVX2`` (how an AVX2 machine
    is emulated) emulates bf16 matmuls, hundreds of times slower: the float32-against-bf16
    comparison and the oneDNN probe must be skipped there as on an AVX2 machine."""
    import subprocess
    import sys

    from extractive_core import numerics, settings
    from extractive_core.determinism import SETTINGS, applicable

    monkeypatch.setattr(numerics, "cpuinfo", lambda: "flags : avx512f avx512_bf16 amx_bf16")
    monkeypatch.setattr(numerics, "onednn_bf16", lambda: False)
    assert not numerics.native_bf16()
    assert not set(applicable(SETTINGS)) & {k for k, v in SETTINGS.items() if "ONEDNN_MAX_CPU_ISA" in v}
    monkeypatch.setattr(numerics, "onednn_bf16", lambda: True)
    assert numerics.native_bf16()
    capped = subprocess.run([sys.executable, "-c", "from extractive_core.numerics import native_bf16; print(native_bf16())"],
                            env=settings.environ_with({"ONEDNN_MAX_CPU_ISA": "AVX2"}), capture_output=True, text=True)
    assert capped.stdout.strip() == "False", capped.stderr
