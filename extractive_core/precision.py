"""Mixed precision that pays on a CPU: weights held in bf16 for compute, float32 master
copies of the trainable weights, float32 Adam (fused where the device supports it).

Under autocast every forward re-casts each float32 weight to bf16, which at the small
batches of finetuning costs more than the faster matmuls save. Here the model itself holds
bf16 weights (cast once, when it is loaded), gradients come out in bf16, and each step
copies them into float32 gradients of the masters, takes one float32 Adam step, and writes
the masters back into the model, rounded once. Updates far below bf16's resolution (lr 3e-6
on weights of size 1e-2) accumulate in the masters instead of vanishing.

Besides, the optimizers of the memory plans (``params.PLANS``, ``memory``): ``HostAdam``
(float32 Adam with its state on the host, for a 7B model on one GPU) and ``KahanAdam`` (bf16
weights with a Kahan-compensated bf16 Adam, torch-optimi).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, overload

import torch
from torch import nn

from .errors import ParameterError
from .params import check_plan


def adam(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where the device and dtype support it (6x the default
    implementation on a CPU for 100M weights), else the multi-tensor one."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


class MasterWeightAdam:
    """Adam over ``params``; when they are not float32, over float32 master copies.

    ``weights()`` gives the float32 weights that the optimizer holds (the masters, or the
    parameters themselves when they already are float32).
    """

    def __init__(self, params: list[nn.Parameter], lr: float) -> None:
        self.params = params
        self.mixed = any(p.dtype != torch.float32 for p in params)
        if self.mixed:
            self.masters = [p.detach().float().clone() for p in params]
            for m in self.masters:
                m.grad = torch.zeros_like(m)
        else:
            self.masters = list(params)
        self.optimizer = adam(self.masters, lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the float32 weights; the model's copy is rounded once."""
        if self.mixed:
            for m, p in zip(self.masters, self.params):
                assert m.grad is not None and p.grad is not None
                m.grad.copy_(p.grad)
        self.optimizer.step()
        if self.mixed:
            for m, p in zip(self.masters, self.params):
                p.copy_(m)

    def weights(self) -> list[torch.Tensor]:
        """The current float32 weights, one per parameter."""
        return [m.detach() for m in self.masters]


# Optimizer plans (``params.PLANS``; their device memory: ``memory``). None keeps the optimizer
# above; ``float32`` and ``bf16_masters`` are that optimizer on a float32 or a bf16 model;
# ``float32_offload`` is float32 Adam with its state on the host (``HostAdam``); ``bf16_kahan``
# is torch-optimi's Adam on bf16 weights with Kahan-compensated updates.


class PlanOptimizer(Protocol):
    """What ``finetune`` asks of an optimizer: ``zero_grad`` before the backward pass, ``step``
    after it, and the float32 weights (at the start: the starting copy; at the end: the
    weights that give the delta)."""

    def zero_grad(self) -> None: ...

    def step(self) -> None: ...

    def weights(self) -> Sequence[torch.Tensor]: ...


class GradientHooks:
    """What the optimizers that act in the backward pass share: their parameters, the hooks
    armed on them (post-accumulate-grad), and freeing gradients and hooks."""

    params: list[nn.Parameter]
    hooks: list[Any]

    def _free_gradients(self) -> None:
        for p in self.params:
            p.grad = None

    def _disarm(self) -> None:
        for h in self.hooks:
            h.remove()
        self.hooks = []


class HostWeights(Sequence[torch.Tensor]):
    """The float32 weights of a ``KahanAdam``, each made in host memory when it is read: the
    bf16 weight plus its Kahan compensation (the updates not yet rounded into it). Iterating
    makes one tensor at a time, so a starting copy or a delta costs host memory, not device."""

    def __init__(self, owner: KahanAdam) -> None:
        self.owner = owner

    def __len__(self) -> int:
        return len(self.owner.params)

    @overload
    def __getitem__(self, i: int) -> torch.Tensor: ...

    @overload
    def __getitem__(self, i: slice) -> list[torch.Tensor]: ...

    def __getitem__(self, i: int | slice) -> torch.Tensor | list[torch.Tensor]:
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        return self.owner.weight(self.owner.params[i])


class KahanAdam(GradientHooks):
    """The ``bf16_kahan`` plan: Adam (torch's defaults: betas 0.9 and 0.999, eps 1e-8, no weight
    decay) on bf16 weights with bf16 moments and a bf16 Kahan compensation buffer per weight
    (``optimi.Adam(kahan_sum=True)``), so updates far below bf16's spacing (lr 3e-6 on weights
    of 1e-2) accumulate in the compensation until they round into the weight.

    ``gradient_release`` (the default): each parameter's step runs inside the backward pass as
    soon as its gradient is whole, and frees that gradient (optimi's gradient release, through
    post-accumulate-grad hooks), so the device holds one layer's gradients, not all of them.
    The hooks live only from ``zero_grad`` to ``step`` (and ``weights`` removes any left), so a
    later backward pass on the model (the extractive scores') never steps this optimizer.

    ``weights()`` makes the float32 weights in host memory (``HostWeights``), so the starting
    copy and the delta that ``finetune`` keeps cost no device memory.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, gradient_release: bool = True) -> None:
        try:
            import optimi
        except ImportError:
            raise ParameterError("optimizer_plan bf16_kahan needs torch-optimi: pip install torch-optimi") from None
        wrong = sorted({str(p.dtype).removeprefix("torch.") for p in params if p.dtype != torch.bfloat16})
        if wrong:
            raise ParameterError(f"optimizer_plan bf16_kahan trains bf16 weights; these are {wrong}: load the model "
                                 "with dtype='bfloat16' (params dtype: bfloat16)")
        self.params = params
        self.release = gradient_release
        self.optimizer = optimi.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                     kahan_sum=True, gradient_release=gradient_release)
        self.hooks: list[Any] = []

    def _step_one(self, p: torch.Tensor) -> None:
        self.optimizer.step(param=p)
        self.optimizer.zero_grad(param=p)

    def _arm(self) -> None:
        if self.release and not self.hooks:
            self.hooks = [p.register_post_accumulate_grad_hook(self._step_one) for p in self.params]

    def zero_grad(self) -> None:
        """Free every gradient; with gradient release, arm the hooks for the coming backward."""
        self._free_gradients()
        self._arm()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step. With gradient release the backward pass took it, parameter by
        parameter; here only a gradient left over (none, after ``zero_grad`` and backward) is
        stepped, and the hooks are removed."""
        self._disarm()
        if self.release:
            for p in self.params:
                if p.grad is not None:
                    self._step_one(p)
        else:
            self.optimizer.step()

    @torch.no_grad()
    def weight(self, p: torch.Tensor) -> torch.Tensor:
        """``p``'s float32 weight, in host memory: the bf16 weight plus its compensation."""
        w = p.detach().to("cpu", torch.float32, copy=True)
        comp = self.optimizer.state[p].get("kahan_comp") if p in self.optimizer.state else None
        if isinstance(comp, torch.Tensor) and comp.shape == p.shape and comp.is_floating_point():
            w += comp.to("cpu", torch.float32)
        return w

    def weights(self) -> HostWeights:
        """The float32 weights, one per parameter, each made in host memory when read."""
        self._disarm()
        return HostWeights(self)


class HostAdam(GradientHooks):
    """The ``float32_offload`` plan: float32 Adam whose state, float32 weights and gradients
    live in host memory, while the model keeps its float32 weights on the device.

    Each parameter's gradient is copied to the host as soon as it is whole and freed on the
    device (post-accumulate-grad hooks, armed from ``zero_grad`` to ``step``), so the device
    holds one layer's gradients at most; ``step`` takes one fused float32 Adam step on the
    host copies and writes them into the model. The arithmetic is float32 Adam's on the same
    gradients: on a CPU the run is the ``float32`` run bit for bit (a test checks it); on a GPU
    only the Adam kernel differs (the host's instead of the device's). ``weights()`` are the
    host copies, so the starting copy and the delta cost host memory, not device."""

    def __init__(self, params: list[nn.Parameter], lr: float) -> None:
        wrong = sorted({str(p.dtype).removeprefix("torch.") for p in params if p.dtype != torch.float32})
        if wrong:
            raise ParameterError(f"optimizer_plan float32_offload trains float32 weights; these are {wrong}: load "
                                 "the model with dtype='float32' (params dtype: float32)")
        self.params = params
        pin = torch.cuda.is_available() and any(p.is_cuda for p in params)
        self.host = [host_buffer(p, pin).copy_(p.detach()) for p in params]
        self.grads = [host_buffer(p, pin).zero_() for p in params]  # each weight's host gradient
        self.fresh = [False] * len(params)  # whether the host holds this step's gradient
        self.optimizer = adam(self.host, lr)
        self.hooks: list[Any] = []

    def _offload(self, i: int, p: torch.Tensor) -> None:
        grad = self.grads[i]
        assert p.grad is not None
        if self.fresh[i]:  # a second backward pass before the step: gradients add up, as on the device
            grad.add_(p.grad.to("cpu"))
        else:
            grad.copy_(p.grad)
        p.grad = None
        self.fresh[i] = True

    def zero_grad(self) -> None:
        """Free every gradient and arm the hooks for the coming backward pass."""
        self._free_gradients()
        self.fresh = [False] * len(self.params)
        if not self.hooks:
            self.hooks = [p.register_post_accumulate_grad_hook(lambda p, i=i: self._offload(i, p))
                          for i, p in enumerate(self.params)]

    @torch.no_grad()
    def step(self) -> None:
        """One float32 Adam step on the host; the model's weights are overwritten with it.
        A parameter that got no gradient this step (none reached it) is not stepped, as
        torch's Adam skips a parameter whose gradient is None."""
        self._disarm()
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._offload(i, p)
        for h, g, f in zip(self.host, self.grads, self.fresh):
            h.grad = g if f else None  # torch's Adam skips a weight without a gradient
        if any(self.fresh):
            self.optimizer.step()
        for p, h, f in zip(self.params, self.host, self.fresh):
            if f:
                p.copy_(h, non_blocking=False)

    def weights(self) -> list[torch.Tensor]:
        """The float32 weights, in host memory."""
        self._disarm()
        return [h.detach() for h in self.host]


def host_buffer(like: torch.Tensor, pin: bool) -> torch.Tensor:
    """An empty float32 host tensor shaped like ``like``, in page-locked memory when ``pin``
    (fast copies to and from a GPU) and the system allows it, else in ordinary memory."""
    if pin:
        try:
            return torch.empty(like.shape, dtype=torch.float32, pin_memory=True)
        except RuntimeError:  # locked-memory limits: ordinary memory, slower copies
            pass
    return torch.empty(like.shape, dtype=torch.float32)


def visible_device_bytes(model: nn.Module) -> int | None:
    """The memory of the GPUs that hold ``model``'s weights; None when they are all on the CPU."""
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    if not devices:
        return None
    return sum(torch.cuda.get_device_properties(i).total_memory for i in devices)


def check_run_memory(plan: str, model: nn.Module, params: list[nn.Parameter], batch_size: int,
                     autocast: str | None, chosen: bool = True) -> None:
    """Before a run starts on a GPU: a ``ParameterError`` when ``plan`` will not fit the
    visible devices (``memory.run_bytes``: what is on them now, plus the plan's training state
    and the activations of one batch), naming the plan that would. On the CPU: nothing.
    ``chosen``: the user chose the plan (else it is what no plan amounts to, and a model
    whose parameters the formula cannot count is not checked)."""
    from . import memory

    device_bytes = visible_device_bytes(model)
    if device_bytes is None:
        return
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    resident = sum(torch.cuda.memory_allocated(i) for i in devices)
    weight_bytes = next(model.parameters()).element_size()
    try:
        arch = memory.architecture(getattr(model, "config"))
    except (ParameterError, TypeError, AttributeError):
        if chosen:
            raise
        return
    if not chosen and arch.model_type not in memory.BLOCK_NORMS:
        return
    per_layer = memory.counts(arch).per_layer
    trained = sum(p.numel() for p in params)
    act = memory.activation_bytes(arch, batch_size * memory.SEQUENCE_TOKENS, 2)
    needed = memory.run_bytes(plan, trained, resident, weight_bytes, act, min(per_layer, trained),
                              autocast == "bfloat16" and weight_bytes == 4)
    memory.check_run_fits(plan, needed, device_bytes)
    memory.check_host_fits(plan, trained, available_host_bytes())


def available_host_bytes() -> int | None:
    """The host memory available now (Linux ``MemAvailable``); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def plan_optimizer(plan: str | None, model: nn.Module, params: list[nn.Parameter], lr: float, batch_size: int = 8,
                   autocast: str | None = None) -> PlanOptimizer:
    """The optimizer of ``plan`` (``params.PLANS``) over ``params`` of ``model``, after
    checking that the model's dtype is the plan's and, on a GPU, that the run will fit. No
    plan: today's optimizer (``MasterWeightAdam``), checked as the plan it amounts to
    (``float32`` on float32 weights, else ``bf16_masters``), so that a run too big for the
    GPU stops with the plan that would fit instead of running out of memory."""
    dtype = str(next(iter(params)).dtype if params else next(model.parameters()).dtype).removeprefix("torch.")
    if plan is None:
        check_run_memory("float32" if dtype == "float32" else "bf16_masters", model, params, batch_size, autocast,
                         chosen=False)
        return MasterWeightAdam(params, lr)
    check_plan(plan)
    check_plan(plan, dtype)
    check_run_memory(plan, model, params, batch_size, autocast)
    if plan == "bf16_kahan":
        return KahanAdam(params, lr)
    if plan == "float32_offload":
        return HostAdam(params, lr)
    return MasterWeightAdam(params, lr)
