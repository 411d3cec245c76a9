"""Memory plans (issue 21): the parameter count from a config's numbers against built models,
the plan chosen for each 7B params file on one 80 GB GPU, the error of a plan that does not
fit, the bf16 Kahan optimizer (updates below bf16's spacing kept, gradient release), and the
shape check of the grafting path at reduced width."""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import ARCHITECTURES, tiny_model

from extractive_core import memory
from extractive_core.architecture import layer_of
from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.extractive import scores_memory_bytes
from extractive_core.finetune import finetune
from extractive_core.params import PLANS, Architecture, RunSpec, load_params
from extractive_core import precision
from extractive_core.precision import KahanAdam, MasterWeightAdam

REPO = Path(__file__).resolve().parents[1]
SEVEN_B = ["olmo_7b", "llama3_8b", "qwen2_7b", "mistral_7b", "gemma2_9b"]


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_the_count_from_config_numbers_is_the_built_models(model_type, tokenizer):
    model = tiny_model(model_type, len(tokenizer))
    c = memory.counts(model.config)
    blocks = sum(p.numel() for n, p in model.named_parameters() if layer_of(model, n) is not None)
    total = sum(p.numel() for p in model.parameters())
    assert (c.blocks, c.total) == (blocks, total)
    assert c.per_layer * model.config.num_hidden_layers == blocks


def test_biases_are_counted(tokenizer):
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, attention_bias=True, mlp_bias=True)
    model = AutoModelForCausalLM.from_config(config)
    assert memory.counts(config).total == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", SEVEN_B)
def test_the_7b_params_files_give_their_published_sizes(name):
    """The architecture sections reproduce the models' published parameter counts."""
    published = {"olmo_7b": 6.89e9, "llama3_8b": 8.03e9, "qwen2_7b": 7.62e9, "mistral_7b": 7.25e9,
                 "gemma2_9b": 9.24e9}
    assert memory.counts(load_params(name)).total == pytest.approx(published[name], rel=0.005)


def test_the_plans_bytes_per_parameter():
    assert {n: memory.plan(n).per_trained for n in PLANS} == {"float32": 24, "float32_offload": 4,
                                                               "bf16_masters": 28, "bf16_kahan": 8}
    assert memory.training_bytes("float32", 10, 5, 7, autocast=True) == 10 * 26 + 5 * 4 + 7
    assert memory.training_bytes("bf16_kahan", 10, 5, 7, layer=3) == 10 * 8 + 5 * 2 + 7 + 3 * 2
    assert memory.training_bytes("float32_offload", 10, 5, 7, layer=3, autocast=True) == 10 * 6 + 5 * 4 + 7 + 3 * 4
    with pytest.raises(ParameterError, match="unknown optimizer plan 'int8'"):
        memory.plan("int8")


def test_plan_for_picks_float32_when_it_fits_and_float32_offload_for_7b_on_80_gb():
    tiny = Architecture("llama", 32, 64, 2, 4, 100, 2, 8)
    assert memory.plan_for(tiny, 10 * memory.GiB) == "float32"
    assert memory.plan_for(load_params("llama3_8b"), memory.GPU_80GB) == "float32_offload"
    assert memory.plan_for(load_params("llama3_8b"), 400 * memory.GiB) == "float32"
    assert memory.plan_for(load_params("llama3_8b"), 10 * memory.GiB) is None


def test_the_error_names_needed_and_visible_bytes_and_the_plan_that_fits():
    with pytest.raises(ParameterError) as err:
        memory.check_fits("float32", load_params("olmo_7b"), memory.GPU_80GB, "data_ordering")
    text = str(err.value)
    assert "optimizer_plan float32 needs about" in text and "the visible devices hold 85.9 GB" in text
    assert "optimizer_plan float32_offload would fit" in text and "dtype: float32" in text
    assert memory.check_fits("float32_offload", load_params("olmo_7b"), memory.GPU_80GB) < memory.GPU_80GB
    with pytest.raises(ParameterError, match="no plan fits"):
        memory.check_fits("float32_offload", load_params("olmo_7b"), 20 * memory.GiB)


@pytest.mark.parametrize("name", SEVEN_B)
def test_every_7b_params_file_states_a_plan_that_fits_one_80_gb_gpu(name):
    """Every 7B file's own plan (float32_offload: float32 weights on the device, Adam on the
    host) is the first that fits one 80 GB GPU in every experiment, and its formula stays under
    80 GB in decimal units too (README: A 7B run on one 80 GB GPU)."""
    params = load_params(name)
    assert params.optimizer_plan == "float32_offload"
    for experiment in memory.EXPERIMENTS:
        assert memory.plan_for(params, memory.GPU_80GB, experiment) == "float32_offload", experiment
        assert memory.check_fits("float32_offload", params, memory.GPU_80GB, experiment) <= 80 * memory.GB


def test_the_localisation_term_is_the_extractive_formula():
    a = load_params("llama3_8b").architecture
    assert a is not None
    tokens = 320
    assert memory.scores_activation_bytes(a, tokens) == scores_memory_bytes(
        0, 2, tokens, a.num_hidden_layers, a.hidden_size, a.num_attention_heads * a.head_size, a.intermediate_size)


def test_the_optimizers_state_is_what_the_formula_counts():
    """Bytes of state per trained parameter: MasterWeightAdam on bf16 (master, its gradient,
    two moments: 16 beside the bf16 weight and gradient), KahanAdam (two bf16 moments and the
    bf16 compensation: 6 beside the bf16 weight)."""
    w = torch.nn.Parameter(torch.randn(64, 32, dtype=torch.bfloat16))
    masters = MasterWeightAdam([w], lr=1e-3)
    w.grad = torch.randn_like(w)
    masters.step()
    state = [t for s in masters.optimizer.state.values() for t in s.values() if t.numel() > 1]
    held = sum(t.numel() * t.element_size() for t in state + masters.masters + [m.grad for m in masters.masters])
    assert held / w.numel() == 16
    v = torch.nn.Parameter(torch.randn(64, 32, dtype=torch.bfloat16))
    kahan = KahanAdam([v], lr=1e-3)
    kahan.zero_grad()
    (v.float() ** 2).sum().backward()  # gradient release: the step runs here, and frees the gradient
    assert v.grad is None
    kahan.step()
    state = [t for t in kahan.optimizer.state[v].values() if isinstance(t, torch.Tensor) and t.numel() > 1]
    assert sum(t.numel() * t.element_size() for t in state) / v.numel() == 6


@pytest.mark.parametrize("lr", [1e-6, 3e-6])
def test_kahan_keeps_updates_below_bf16_spacing(lr):
    """Weights of 1e-2 (bf16 spacing 6.1e-5): 100 Adam steps of lr each move the bf16 weight
    by about 100 lr; plain bf16 Adam rounds every step away."""
    start = 0.01
    w = torch.nn.Parameter(torch.full((8,), start, dtype=torch.bfloat16))
    opt = KahanAdam([w], lr=lr)
    plain = torch.nn.Parameter(torch.full((8,), start, dtype=torch.bfloat16))
    pure = torch.optim.Adam([plain], lr=lr)
    for _ in range(100):
        opt.zero_grad()
        w.sum().backward()  # gradient 1 everywhere: each Adam step is -lr
        opt.step()
        plain.grad = torch.ones_like(plain)
        pure.step()
    start_bf16 = torch.tensor(start, dtype=torch.bfloat16).item()
    spacing = 2.0 ** -14  # bf16 spacing in [2^-7, 2^-6)
    assert opt.weights()[0][0].item() == pytest.approx(start_bf16 - 100 * lr, abs=1e-5)  # weight + compensation
    assert w[0].item() == pytest.approx(start_bf16 - 100 * lr, abs=spacing)  # the bf16 weight itself moved
    assert w[0].item() < start_bf16
    assert plain[0].item() == start_bf16  # plain bf16 Adam lost every update


def test_kahan_refuses_float32_weights():
    with pytest.raises(ParameterError, match="trains bf16 weights.*dtype='bfloat16'"):
        KahanAdam([torch.nn.Parameter(torch.zeros(3))], lr=1e-3)


def test_a_bf16_kahan_run_trains_restores_and_leaves_no_hooks(tokenizer, monkeypatch):
    model = tiny_model("llama", len(tokenizer)).to(torch.bfloat16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = first_hop(n=8)
    spec = RunSpec(lr=3e-3, epochs=6, batch_size=4, optimizer_plan="bf16_kahan")
    run = finetune(model, tokenizer, data.facts, {"train": data.facts}, spec, progress=False)
    assert all(d.dtype == torch.float32 and d.device.type == "cpu" for d in run.delta.values())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert run.ranks("train")[-1] < run.ranks("train")[0]
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())
    # without gradient release: the same maths, each step after the backward pass
    real = precision.KahanAdam.__init__

    def unreleased(self, params, lr, gradient_release=True):  # type: ignore[no-untyped-def]
        real(self, params, lr, gradient_release=False)

    monkeypatch.setattr(precision.KahanAdam, "__init__", unreleased)
    again = finetune(model, tokenizer, data.facts, {"train": data.facts}, spec, progress=False)
    for n, d in again.delta.items():
        scale = max(1e-3, run.delta[n].abs().max().item())
        torch.testing.assert_close(d, run.delta[n], rtol=0, atol=2e-2 * scale)


def test_the_plan_must_match_the_models_dtype(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    data = first_hop(n=4)
    for plan in ("bf16_kahan", "bf16_masters"):
        with pytest.raises(ParameterError, match=f"optimizer_plan {plan} holds the weights in bfloat16"):
            finetune(model, tokenizer, data.facts, {"train": data.facts},
                     RunSpec(lr=1e-3, epochs=1, optimizer_plan=plan), progress=False)


def test_the_default_path_is_todays_and_its_cache_key_unchanged(tokenizer):
    """No plan is MasterWeightAdam, as before: the float32 plan gives the very same bits, and a
    run without a plan has the key fields it had before the field existed."""
    data = first_hop(n=8)
    deltas = []
    for plan in (None, "float32"):
        model = tiny_model("llama", len(tokenizer))
        run = finetune(model, tokenizer, data.facts, {"train": data.facts},
                       RunSpec(lr=3e-3, epochs=2, batch_size=4, optimizer_plan=plan), progress=False)
        deltas.append(run.delta)
    assert all(torch.equal(deltas[0][n], deltas[1][n]) for n in deltas[0])
    assert "optimizer_plan" not in RunSpec().as_dict()
    assert RunSpec(optimizer_plan="bf16_kahan").as_dict()["optimizer_plan"] == "bf16_kahan"
    with pytest.raises(ParameterError, match="optimizer_plan must be one of"):
        RunSpec(optimizer_plan="int8")


def test_a_plan_that_will_not_fit_stops_before_training(tokenizer, monkeypatch):
    model = tiny_model("llama", len(tokenizer)).to(torch.bfloat16)
    monkeypatch.setattr(precision, "visible_device_bytes", lambda m: 2 * memory.GiB)  # as if on a small GPU
    monkeypatch.setattr(memory, "ALLOWANCE", 2 * memory.GiB)
    data = first_hop(n=4)
    with pytest.raises(ParameterError, match="this finetuning run under optimizer_plan bf16_kahan needs about.*"
                                             "the visible devices hold 2.1 GB; no plan fits"):
        finetune(model, tokenizer, data.facts, {"train": data.facts},
                 RunSpec(lr=1e-3, epochs=1, optimizer_plan="bf16_kahan"), progress=False)


def test_params_files_take_an_architecture_and_a_plan(params_dir):
    (params_dir / "big.yaml").write_text(
        "source: hub\nhub_id: x/y\ndtype: bfloat16\noptimizer_plan: bf16_kahan\narchitecture:\n  model_type: llama\n"
        "  hidden_size: 64\n  intermediate_size: 128\n  num_hidden_layers: 2\n  num_attention_heads: 4\n"
        "  vocab_size: 100\n")
    p = load_params("big")
    assert p.architecture == Architecture("llama", 64, 128, 2, 4, 100) and p.architecture.kv_heads == 4
    assert RunSpec.of(p).optimizer_plan == "bf16_kahan"
    assert RunSpec.of(load_params("olmo_7b")).optimizer_plan == "float32_offload"  # the 7B files state theirs
    assert RunSpec.of(load_params("gemma3_270m")).optimizer_plan is None
    for text, message in (("optimizer_plan: bf16_kahan\n", "holds the weights in bfloat16.*dtype: bfloat16"),
                          ("optimizer_plan: fp8\n", "optimizer_plan must be one of"),
                          ("architecture: {model_type: llama, hidden_size: 0}\n", "architecture"),
                          ("architecture:\n  model_type: llama\n  hidden_size: 64\n  intermediate_size: 128\n"
                           "  num_hidden_layers: 2\n  num_attention_heads: 4\n  num_key_value_heads: 3\n"
                           "  vocab_size: 10\n", "multiple of num_key_value_heads")):
        (params_dir / "bad.yaml").write_text("source: hub\nhub_id: x/y\n" + text)
        with pytest.raises(ParameterError, match=message):
            load_params("bad")


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_shape_check_runs_the_grafting_path_at_reduced_width_on_the_cpu(capsys):
    shape_check = load_benchmark("shape_check")
    clock = time.perf_counter()
    out = shape_check.main(["--model", "gemma2_9b", "--device", "cpu", "--width", "128", "--vocab", "1024",
                            "--threads", "2"])
    seconds = time.perf_counter() - clock
    assert out["plan"] == "float32_offload" and out["device"] == "cpu"
    assert out["shape"]["layers"] == 2 and out["shape"]["head_dim"] == 256 and out["shape"]["heads"] == 1
    assert out["parameters"]["built"] == out["parameters"]["total"]  # the formula's count of the built model
    assert out["steps"] == 5 * 3 and out["seconds_per_step"] > 0 and out["peak_memory"]["bytes"] > 0
    assert set(out["table"]) == {"W_F'", "graft", "control"}
    assert "s per step" in capsys.readouterr().out
    assert seconds < 60


def test_the_reduced_architecture_keeps_head_width_and_proportions():
    shape_check = load_benchmark("shape_check")
    a = load_params("llama3_8b").architecture
    r = shape_check.reduced(a, 2, 256, 4096)
    assert (r.num_hidden_layers, r.hidden_size, r.num_attention_heads, r.kv_heads, r.head_size,
            r.intermediate_size, r.vocab_size) == (2, 256, 2, 1, 128, 896, 4096)
    assert shape_check.reduced(a, None, None, None) == a
    assert replace(a, num_hidden_layers=4) == shape_check.reduced(a, 4, None, None)


def test_the_offload_plan_is_the_float32_run_bit_for_bit_and_keeps_no_gradient_on_the_model(tokenizer):
    """float32_offload steps float32 Adam on host copies with the gradients copied there as
    they complete: on a CPU the very same bits as float32; gradients freed on the model,
    hooks removed, the weights restored, the delta in host memory."""
    data = first_hop(n=8)
    runs = {}
    for plan in ("float32", "float32_offload"):
        model = tiny_model("llama", len(tokenizer))
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        runs[plan] = finetune(model, tokenizer, data.facts, {"train": data.facts},
                              RunSpec(lr=3e-3, epochs=3, batch_size=4, optimizer_plan=plan), progress=False)
        assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
        assert all(not p._post_accumulate_grad_hooks for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())  # the offload run's: every gradient went to the host
    assert runs["float32"].log == runs["float32_offload"].log
    assert runs["float32"].delta.keys() == runs["float32_offload"].delta.keys()
    assert all(torch.equal(runs["float32"].delta[n], d) for n, d in runs["float32_offload"].delta.items())
    assert any(d.abs().max() > 0 for d in runs["float32_offload"].delta.values())


def test_the_offload_plan_holds_one_gradient_at_a_time_and_refuses_bf16():
    a, b = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(3))
    opt = precision.HostAdam([a, b], lr=0.1)
    opt.zero_grad()
    (a.sum() * 2).backward()  # b gets no gradient this step, and is not stepped
    assert a.grad is None and opt.grads[0].tolist() == [2.0] * 4
    opt.step()
    assert a.detach().lt(1).all() and torch.equal(b.detach(), torch.ones(3))
    assert torch.equal(opt.weights()[0], a.detach()) and not a._post_accumulate_grad_hooks
    opt.zero_grad()
    (a.sum() * 2).backward()
    (a.sum() * 3).backward()  # two backward passes before a step: their gradients add up, as on the device
    assert opt.grads[0].tolist() == [5.0] * 4
    opt.step()
    with pytest.raises(ParameterError, match="float32_offload trains float32 weights"):
        precision.HostAdam([torch.nn.Parameter(torch.zeros(2, dtype=torch.bfloat16))], lr=0.1)


def test_a_plan_that_fails_its_check_leaves_the_model_as_it_was(tokenizer, monkeypatch):
    """The optimizer (and the plan's fit check) comes before finetune touches requires_grad."""
    model = tiny_model("llama", len(tokenizer))
    for n, p in model.named_parameters():
        p.requires_grad_("embed" in n)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}

    def too_big(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ParameterError("this finetuning run under optimizer_plan float32 needs about 99 GB")

    monkeypatch.setattr(precision, "check_run_memory", too_big)
    data = first_hop(n=4)
    with pytest.raises(ParameterError, match="needs about 99 GB"):
        finetune(model, tokenizer, data.facts, {"train": data.facts},
                 RunSpec(lr=1e-3, epochs=1, optimizer_plan="float32"), progress=False)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags


def test_continued_training_runs_under_the_params_files_plan():
    from extractive_core.continued_training import Setting

    s = Setting(1e-4, (2, 3), "blocks", 2, 2, 8, 24, None, "float32_offload")
    assert s.spec(2, 0).optimizer_plan == "float32_offload" and s.as_dict()["optimizer_plan"] == "float32_offload"
    assert "optimizer_plan" not in Setting(1e-4, (2, 3), "blocks", 2, 2, 8, 24).as_dict()


def test_a_library_plans_version_is_in_its_run_key_only():
    from extractive_core.runs import plan_library

    assert plan_library(RunSpec()) == {} and plan_library(RunSpec(optimizer_plan="float32_offload")) == {}
    assert plan_library(RunSpec(optimizer_plan="bf16_kahan"))["plan_library"].startswith("torch-optimi")


def test_a_bf16_load_of_a_7b_file_drops_its_float32_plan():
    """load_model(..., dtype="bfloat16") on a file whose plan holds float32 weights (the 7B
    files' float32_offload) takes today's optimizer for bf16, not a plan that would refuse it."""
    olmo = load_params("olmo_7b")
    assert olmo.with_dtype("bfloat16").optimizer_plan is None and olmo.with_dtype("bfloat16").dtype == "bfloat16"
    assert olmo.with_dtype("float32").optimizer_plan == "float32_offload"
    kahan = replace(olmo, dtype="bfloat16", optimizer_plan="bf16_kahan")
    assert kahan.with_dtype("bfloat16").optimizer_plan == "bf16_kahan" and kahan.with_dtype("float32").optimizer_plan is None


def test_a_run_whose_host_state_will_not_fit_stops_first():
    memory.check_host_fits("float32_offload", 10**9, 30 * memory.GB)  # 24 GB of 30: fits
    memory.check_host_fits("float32_offload", 10**9, None)  # unknown: not checked
    memory.check_host_fits("float32", 10**12, 1)  # a plan without host state
    with pytest.raises(ParameterError, match="keeps about 24.0 GB of training state in host memory.*20.0 GB is available"):
        memory.check_host_fits("float32_offload", 10**9, 20 * memory.GB)


def test_the_offload_plans_host_state_is_what_the_formula_counts():
    """HostAdam holds, per trained parameter, the weights it steps (4), their gradients (4) and
    Adam's two moments (8) in host memory; finetune's starting copy and delta make the 24."""
    w = torch.nn.Parameter(torch.randn(64, 32))
    opt = precision.HostAdam([w], lr=1e-3)
    opt.zero_grad()
    (w ** 2).sum().backward()
    opt.step()
    state = [t for t in opt.optimizer.state[opt.host[0]].values() if t.numel() > 1]
    held = sum(t.numel() * t.element_size() for t in state + opt.host + opt.grads)
    assert held / w.numel() == 16 == memory.HOST_BYTES["float32_offload"] - 8
