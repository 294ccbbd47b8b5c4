"""Delayed-gradient emulator: PipeDream/LayerPipe staleness, single process, exact.

Training step t processes mini-batch t. Layer l's weights after k updates are version k.
The forward of step t at layer l uses version max(0, t - S(l)) (the weights a pipeline
stage holds when mini-batch t reaches it, S(l) steps of gradients still in flight); the
update of step t is W_l <- W_l - lr * g_l(t), applied with ``torch.optim.SGD``.

* ``weight_stashing=True`` (PipeDream): g(t) is the exact gradient of mini-batch t at the
  weights its forward used (one autograd pass through the stashed versions).
* ``weight_stashing=False``: the backward of layer l uses the latest weights (version t)
  on the activations stored by the stale forward: the inconsistent gradient PipeDream
  without stashing computes (layer-by-layer vector-Jacobian products).
* With S(l) = 0 for every layer both modes are plain SGD, bit for bit (tested in float64).

So layer l's update at step t uses a gradient computed at weights S(l) steps old.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._resources import require_memory
from .._validation import check_callable, check_int, check_ints, check_real
from ..errors import InputError, InputTypeError

__all__ = ["DelayedGradientTrainer", "pipedream_delays"]


def pipedream_delays(num_layers: int, stages: Sequence[range] | None = None) -> list[int]:
    """S(l) = number of pipeline stages after layer l's stage (one stage per layer by default).

    Returns
    -------
    list of int
        ``S(l)`` for ``l = 0 .. num_layers - 1``: ``num_layers - 1 - l`` by default.
    """
    num_layers = check_int(num_layers, "num_layers", minimum=0)
    require_memory(40.0 * num_layers, f"pipedream_delays(num_layers={num_layers})")  # a list of ints
    if stages is None:
        return [num_layers - 1 - l for l in range(num_layers)]
    if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence):
        raise InputTypeError(f"`stages` must be a sequence of ranges of layers; got {stages!r}.")
    out = [0] * num_layers
    for s, stage in enumerate(stages):
        for l in check_ints(stage, f"stages[{s}]", minimum=0, nonempty=False):
            if l >= num_layers:
                raise InputError(f"`stages[{s}]` must hold layers 0..{num_layers - 1}; got {l}.")
            out[l] = len(stages) - 1 - s
    return out


@dataclass
class DelayedGradientTrainer:
    """Train an ``nn.Sequential`` with per-layer gradient delays ``delays[l]`` = S(l).

    ``loss_fn(output, target)`` returns a scalar. Call ``step()`` once per mini-batch.
    """

    model: Any  # torch.nn.Sequential (annotated loosely: torch is imported on first use)
    delays: Sequence[int]
    lr: float
    loss_fn: Callable
    weight_stashing: bool = True
    history: list[float] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        import torch

        if not isinstance(self.model, torch.nn.Sequential):
            raise InputTypeError(f"`model` must be a torch.nn.Sequential; got {type(self.model).__name__}.")
        n = len(self.model)
        delays = check_ints(self.delays, "delays", minimum=0, nonempty=False)
        if len(delays) != n:
            raise InputError(f"`delays` must have {n} entries (one per layer of `model`); got {len(delays)}.")
        self.lr = check_real(self.lr, "lr", minimum=0, strict=True)
        check_callable(self.loss_fn, "loss_fn")
        self.delays = delays
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr)
        # per layer, its weights after 0, 1, 2, ... updates; None once no forward can use them
        self._versions: list[list[dict[str, Any] | None]] = [[self._snapshot(layer)] for layer in self.model]
        self.steps = 0

    @staticmethod
    def _snapshot(layer) -> dict:
        return {name: p.detach().clone() for name, p in layer.named_parameters()}

    def _params(self, l: int, version: int) -> dict[str, Any]:
        params = self._versions[l][version]
        assert params is not None  # dropped versions are older than any forward's S(l)
        return params

    def step(self, inputs, target) -> float:
        """One training step: forward through stale weights, SGD update with this step's gradient.

        Returns
        -------
        float
            The loss of this mini-batch's (stale) forward.
        """
        import torch
        from torch.func import functional_call

        t = self.steps
        layers = list(self.model)
        fwd = []
        for l in range(len(layers)):
            version = max(0, t - self.delays[l])
            fwd.append({k: v.clone().requires_grad_(True) for k, v in self._params(l, version).items()})
        # with all delays zero the two modes coincide: take the single-pass path (exact SGD)
        if self.weight_stashing or not any(self.delays):
            x = inputs
            for layer, params in zip(layers, fwd):
                x = functional_call(layer, params, (x,))
            loss = self.loss_fn(x, target)
            flat = [p for params in fwd for p in params.values()]
            flat_grads = torch.autograd.grad(loss, flat)
            it = iter(flat_grads)
            layer_grads: list[dict[str, Any]] = [{k: next(it) for k in params} for params in fwd]
        else:
            acts = [inputs]
            with torch.no_grad():
                for layer, params in zip(layers, fwd):
                    acts.append(functional_call(layer, {k: v.detach() for k, v in params.items()}, (acts[-1],)))
            out = acts[-1].detach().requires_grad_(True)
            loss = self.loss_fn(out, target)
            (upstream,) = torch.autograd.grad(loss, out)
            layer_grads = [{} for _ in layers]
            for l in reversed(range(len(layers))):
                latest = {k: v.clone().requires_grad_(True) for k, v in self._params(l, t).items()}
                a_in = acts[l].detach().requires_grad_(l > 0)
                y = functional_call(layers[l], latest, (a_in,))
                wrt = list(latest.values()) + ([a_in] if l > 0 else [])
                grads = torch.autograd.grad(y, wrt, upstream, allow_unused=True)
                layer_grads[l] = {k: g if g is not None else torch.zeros_like(latest[k]) for k, g in zip(latest, grads)}
                if l > 0:
                    upstream = grads[-1]
        # the update of step t uses g(t): its forward weights are S(l) versions old
        for layer, layer_grad in zip(layers, layer_grads):
            for name, p in layer.named_parameters():
                p.grad = layer_grad[name].detach().clone()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        for l, layer in enumerate(layers):
            self._versions[l].append(self._snapshot(layer))
            keep = self.delays[l] + 1
            if len(self._versions[l]) > keep + 1:  # drop versions no forward can use again
                self._versions[l][-keep - 2] = None
        self.steps += 1
        value = float(loss.detach())
        self.history.append(value)
        return value

    def fit(self, batches: Iterable) -> list[float]:
        """``step()`` on every ``(inputs, target)`` pair of ``batches``, in order.

        Returns
        -------
        list of float
            The loss of each step.
        """
        return [self.step(x, y) for x, y in batches]
