r"""The parts of one parareal network, each a forward and backward pass that can be timed alone.

One training iteration of ``f~ = h(z_N)`` consists of the preprocessings ``C^j``, the
subnetworks ``g^j``, the coarse chain and the postprocessing with its loss. Each part is
run on inputs detached from the rest of the network (``requires_grad=True`` where the real
network would send a gradient back to them) and with a fixed random upstream gradient, so
its work is exactly its share of ``loss.backward()``. The inputs of the parts, the
interface tensors ``x_j = C^j(x)``, ``y_j = g^j(x_j)`` and ``z_N``, are computed once,
without gradients, when :class:`NetworkParts` is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..backends import Backend
from ..nn.network import PararealNetwork
from .chain import coarse_chain, compile_modules
from .clocks import device_of, part_seconds, wall_seconds

__all__ = ["PART_NAMES", "ModulePart", "ChainPart", "LossPart", "FullPass", "NetworkParts"]

# the columns of Table 2, in the order of one training iteration
PART_NAMES = ("preprocess", "subnetworks", "coarse", "postprocess")


def _backward(outputs: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
    pairs = [(output, grad) for output, grad in zip(outputs, grads) if output.requires_grad]
    if pairs:
        torch.autograd.backward([output for output, _ in pairs], [grad for _, grad in pairs])


def _leaf(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor.detach().to(device).requires_grad_(True)


class ModulePart:
    """A preprocessing ``C^j`` or a subnetwork ``g^j``: ``module(x)`` and its backward pass.

    ``upstream`` is the fixed gradient of the output; ``leaves`` are the inputs whose
    ``.grad`` the backward pass fills (the subnetwork's input, none for a preprocessing).
    """

    def __init__(self, name: str, module: nn.Module, x: torch.Tensor, upstream: torch.Tensor):
        self.name = name
        self.module = module
        self.x = x
        self.upstream = upstream
        self.device = x.device
        self.leaves = [x] if x.requires_grad else []

    def run(self) -> None:
        """One forward and backward pass."""
        _backward([self.module(self.x)], [self.upstream])


class ChainPart:
    """The coarse chain ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})`` and its backward pass."""

    name = "coarse"

    def __init__(
        self,
        coarse: Sequence[nn.Module],
        inputs: Sequence[torch.Tensor],
        outputs: Sequence[torch.Tensor],
        upstream: torch.Tensor,
        *,
        cuda_graphs: bool,
    ):
        self.coarse = coarse
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.upstream = upstream
        self.device = upstream.device
        self.leaves = self.inputs + self.outputs
        self.cuda_graphs = cuda_graphs

    def run(self) -> None:
        """One forward and backward pass of the whole chain."""
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()  # each run is a new step for CUDA-graph trees
        _backward([coarse_chain(self.coarse, self.inputs, self.outputs)], [self.upstream])


class LossPart:
    """The postprocessing ``h`` and the cross-entropy loss, and their backward pass."""

    name = "postprocess"

    def __init__(self, postprocess: nn.Module, z: torch.Tensor, targets: torch.Tensor):
        self.postprocess = postprocess
        self.z = z
        self.targets = targets
        self.device = z.device
        self.leaves = [z]

    def run(self) -> None:
        """One forward and backward pass, from ``z_N`` to the loss."""
        nn.functional.cross_entropy(self.postprocess(self.z), self.targets).backward()


class FullPass:
    """The whole network's forward and backward pass through a backend: the real wall-clock."""

    def __init__(
        self,
        network: PararealNetwork,
        x: torch.Tensor,
        targets: torch.Tensor,
        backend: Backend,
        coarse: Sequence[nn.Module],
    ):
        self.network = network
        self.x = x
        self.targets = targets
        self.backend = backend
        self.coarse = coarse

    def run(self) -> None:
        """One training iteration's forward and backward pass (no optimiser step)."""
        out = self.network.forward_on(self.x, self.backend, coarse=self.coarse)
        nn.functional.cross_entropy(out, self.targets.to(out.device)).backward()


Part = ModulePart | ChainPart | LossPart


class NetworkParts:
    """The parts of one network, built once, and one timing sample of all of them per :meth:`sample`.

    Each part runs on the device of its parameters (``x`` and the interface tensors are moved
    there). Build it inside :func:`~parareal_toolkit.bench.isolation.preserved_state`: it
    runs the network once, and :meth:`sample` fills gradients.

    Parameters
    ----------
    network : PararealNetwork
        The network, with ``iterations == 1``.
    x : torch.Tensor
        The input batch.
    targets : torch.Tensor or None
        Class labels of the loss; ``None``: random, fixed by ``seed``.
    backend : Backend or None
        The backend of the real wall-clock pass; ``None`` skips it.
    compile_coarse : bool
        Time the chain and the full pass with :func:`compile_modules` stand-ins.
    seed : int
        Seed of the upstream gradients and default targets.
    clock : {"wall", "process"}
        Host clock of the parts off CUDA (see ``parareal_toolkit.bench.clocks``).
    """

    def __init__(
        self,
        network: PararealNetwork,
        x: torch.Tensor,
        *,
        targets: torch.Tensor | None,
        backend: Backend | None,
        compile_coarse: bool,
        seed: int,
        clock: str,
    ):
        self.network = network
        self.backend = backend
        self.clock = clock
        self.parameters = list(network.parameters())
        home = x.device
        n = network.num_subnetworks
        pre_devices = [device_of(c, home) for c in network.preprocess]
        sub_devices = [device_of(g, home) for g in network.subnetworks]
        coarse_device = device_of(network.coarse, sub_devices[-1]) if n > 1 else sub_devices[-1]
        post_device = device_of(network.postprocess, sub_devices[-1])
        generator = torch.Generator(device="cpu").manual_seed(seed)

        def fixed_like(t: torch.Tensor) -> torch.Tensor:
            return torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)

        coarse = list(network.coarse)
        if compile_coarse and n > 1:
            coarse = compile_modules(coarse, device=coarse_device)
        with torch.no_grad():
            xs = [c(x.to(d)) for c, d in zip(network.preprocess, pre_devices)]
            ys = [g(xj.to(d)) for g, xj, d in zip(network.subnetworks, xs, sub_devices)]
            z = coarse_chain(network.coarse, [t.to(coarse_device) for t in xs], [t.to(coarse_device) for t in ys])
            logits = network.postprocess(z.to(post_device))
        if targets is None:
            targets = torch.randint(logits.shape[-1], (logits.shape[0],), generator=generator)
        targets = targets.to(post_device)

        # the upstream gradients are drawn in this order: C^1..C^N, g^1..g^N, the chain
        self.parts: list[Part] = [
            ModulePart("preprocess", c, x.to(d), fixed_like(xj))
            for c, xj, d in zip(network.preprocess, xs, pre_devices)
        ]
        self.parts += [
            ModulePart("subnetworks", g, _leaf(xj, d), fixed_like(yj))
            for g, xj, yj, d in zip(network.subnetworks, xs, ys, sub_devices)
        ]
        if n > 1:
            self.parts.append(
                ChainPart(
                    coarse,
                    [_leaf(t, coarse_device) for t in xs],
                    [_leaf(t, coarse_device) for t in ys],
                    fixed_like(z),
                    cuda_graphs=compile_coarse and coarse_device.type == "cuda",
                )
            )
        self.parts.append(LossPart(network.postprocess, _leaf(z, post_device), targets))
        self.full_pass = None if backend is None else FullPass(network, x, targets, backend, coarse)
        self.wall_devices = sorted({home, *pre_devices, *sub_devices, coarse_device, post_device}, key=str)

    def _clear(self, leaves: Sequence[torch.Tensor]) -> None:
        for tensor in [*self.parameters, *leaves]:
            tensor.grad = None

    def sample(self) -> dict[str, list[float]]:
        """Seconds of every part, run once each, and of one full pass.

        Returns
        -------
        dict of str to list of float
            Keys :data:`PART_NAMES` and ``"wall_clock"``: one time per ``C^j`` under
            ``"preprocess"`` and per ``g^j`` under ``"subnetworks"``, one under each other
            key (none under ``"coarse"`` for N = 1 and under ``"wall_clock"`` without a
            backend).
        """
        times: dict[str, list[float]] = {name: [] for name in (*PART_NAMES, "wall_clock")}
        # One untimed call of the first (tiny) part absorbs the allocator's clean-up after
        # whatever ran before (measured: +1.7 ms on C^1 after a full pass of a ResNet-218).
        first = self.parts[0]
        first.run()
        self._clear(first.leaves)
        for part in self.parts:
            times[part.name].append(part_seconds(part.run, part.device, self.clock))
            self._clear(part.leaves)
        if self.full_pass is not None:
            times["wall_clock"].append(wall_seconds(self.full_pass.run, self.wall_devices))
            self._clear([])
        return times
