r"""The parareal neural network of Lee, Park & Lee, computed by the parareal driver.

A network ``f = h ∘ g^N ∘ ... ∘ g^1 ∘ C`` is cut into ``N`` subnetworks ``g^j``. The
parareal network adds cheap preprocessing ``C^j`` (``C^1 = C``; ``C^j`` for ``j >= 2`` maps
the input straight to a guess of subnetwork ``j``'s input) and small coarse networks
``F^j ≈ g^{j+1}`` (``j = 1..N-1``)::

    x_j = C^j(x)                               j = 1..N      (parallel; x_1 is exact)
    y_j = g^j(x_j)                             j = 1..N      (parallel)
    z_1 = y_1,  z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})   j = 1..N-1   (sequential, cheap)
    f~(x) = h(z_N)

This is exactly one correction-form parareal iteration with fine propagator ``g``, coarse
propagator ``F`` and the initial iterate ``x_2..x_N`` instead of a coarse sweep, and that is
how :class:`PararealNetwork` computes it: its forward calls
:func:`parareal_toolkit.parareal` (the driver the ODE side uses); ``nn/`` holds no copy of
the recurrence.

**Proposition 1** (seed paper). If ``F^j = g^{j+1}`` for ``j = 1..N-1`` and the
subnetworks ``g^2..g^N`` are linear (additive: ``g(a + b) = g(a) + g(b)``; bias-free dense
or convolution layers and their compositions), then ``f~(x) = f(x)`` for every input and
every choice of ``C^2..C^N``. Proof: ``z_{j+1} = g^{j+1}(x_{j+1}) + g^{j+1}(z_j - x_{j+1}) =
g^{j+1}(z_j)``, so ``z_N = g(C(x))``. The paper assumes all of ``f`` linear; the proof
needs no hypothesis on ``C^1``, ``g^1`` or ``h``, and the tests pin that sharper form.
The gradients agree too: with respect to the input and to the parameters of ``C``, ``g^1``
and ``h``; with respect to ``g^{j+1}``'s parameters once its coarse copy ``F^j``'s gradient
is added (exactly the sequential gradient when ``F^j`` *is* ``g^{j+1}``, shared weights);
and the gradient with respect to ``C^j`` (``j >= 2``) is zero.

Where it fails (pinned by counter-example tests):

* **biases**: ``g(u) = Au + b`` gives ``z_{j+1} = g^{j+1}(z_j) + b_{j+1}``: the bias is
  counted twice, and ``f~ - f = h``-image of ``e_N`` with ``e_1 = 0``,
  ``e_{j+1} = A_{j+1} e_j + b_{j+1}`` (for linear ``h``);
* **nonlinear subnetworks** (ReLU, tanh): ``g(x) + g(z - x) != g(z)`` in general;
* **coarse networks with** ``F(0) != 0`` (biases, BatchNorm in eval mode, whose running mean
  makes it affine): not exact even for a perfect guess ``x_{j+1} = z_j``, since then
  ``z_{j+1} = g^{j+1}(z_j) + F^j(0)``.

**More iterations** (our extension, ``iterations = K > 1``): the driver re-runs the
subnetworks from the corrected states. After ``K = N`` iterations ``f~ = f`` for *any*
subnetworks, provided every ``F^j(0) = 0`` (bias-free coarse networks built from
zero-preserving activations) in the correction form; with ``F^j(0) != 0`` the correction form
adds ``F^j(0)`` at interfaces that are already exact and leaves an offset, which
``form="standard"`` (``F(z_new) - F(z_old)``) removes.

**BatchNorm and repeated evaluation.** The network does not touch normalisation layers: each
evaluation of a BatchNorm layer follows PyTorch's rules. In training mode a subnetwork runs
``K`` times per forward pass (the coarse networks too), so its BatchNorm layers normalise
each run with that run's batch statistics and update their running statistics (and
``num_batches_tracked``) ``K`` times, the last update from iteration ``K``'s states, the most
accurate ones. With ``K = 1`` (the seed paper) every layer is updated exactly once per forward,
as in the sequential network. In evaluation mode nothing is updated and BatchNorm is an
affine map, so a coarse network containing it has ``F(0) != 0`` in general (see above).
Exactness claims are therefore stated, and tested, in evaluation mode and float64.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .._validation import check_choice, check_int
from ..backends import Backend, get_backend
from ..driver import FORMS, parareal
from ..errors import InputError, InputTypeError
from ..propagator import check_slice
from .propagators import ModulePropagator

__all__ = ["PararealNetwork"]


def _module_list(modules, name: str) -> nn.ModuleList:
    if isinstance(modules, nn.ModuleList):
        items = list(modules)
    elif isinstance(modules, (nn.Module, str, bytes)) or not isinstance(modules, Sequence):
        raise InputTypeError(f"`{name}` must be a sequence of nn.Module; got {type(modules).__name__}.")
    else:
        items = list(modules)
    for i, module in enumerate(items):
        if not isinstance(module, nn.Module):
            raise InputTypeError(f"`{name}[{i}]` must be an nn.Module; got {type(module).__name__}.")
    return modules if isinstance(modules, nn.ModuleList) else nn.ModuleList(items)


def _shape(t) -> tuple[int, ...]:
    return tuple(t.shape)


class _InterfaceShapes:
    """Shapes seen in one forward pass, so that mismatches are named before torch broadcasts them."""

    def __init__(self):
        self.outputs: dict[int, tuple[int, ...]] = {}

    def check_guess(self, j: int, guess) -> None:
        # Driver slice j >= 1 starts from the guess x_{j+1} = C^{j+1}(x), which must have the
        # shape of z_j = g^j(...), or z_j - x_{j+1} broadcasts.
        before = self.outputs.get(j - 1)
        if before is not None and _shape(guess) != before:
            raise InputError(
                f"preprocessing C^{j + 1} (preprocess[{j}]) returns shape {_shape(guess)}, but "
                f"subnetwork g^{j} (subnetworks[{j - 1}]) returns shape {before}; C^{j + 1} "
                f"guesses the input of g^{j + 1}, so the shapes must be equal."
            )


class _SubnetworkPropagator(ModulePropagator):
    """Fine propagator of a parareal network: slice ``j`` is ``g^{j+1}``; records output shapes."""

    def __init__(self, modules: nn.ModuleList, shapes: _InterfaceShapes):
        super().__init__(modules)
        self._shapes = shapes

    def forward(self, u, j: int):
        if j >= 1:
            self._shapes.check_guess(j, u)
        out = super().forward(u, j)
        self._shapes.outputs[j] = _shape(out)
        return out


class _CoarsePropagator(ModulePropagator):
    """Coarse propagator of a parareal network: slice ``j >= 1`` is ``F^j``; checks its shape."""

    def __init__(self, modules: nn.ModuleList, shapes: _InterfaceShapes):
        super().__init__(modules, first_slice=1)
        self._shapes = shapes

    def forward(self, u, j: int):
        out = super().forward(u, j)
        expected = self._shapes.outputs.get(j)
        if expected is not None and _shape(out) != expected:
            raise InputError(
                f"coarse network F^{j} (coarse[{j - 1}]) returns shape {_shape(out)}, but the "
                f"subnetwork it approximates, g^{j + 1} (subnetworks[{j}]), returns shape "
                f"{expected}; they must be equal (torch would broadcast the sum silently)."
            )
        return out


class PararealNetwork(nn.Module):
    r"""A parareal neural network ``f~ = h(z_N)`` whose forward is the parareal driver.

    With ``iterations=1`` this is the seed paper's network (see the module docstring for the
    equations, Proposition 1 and where it fails). The forward pass calls
    :func:`parareal_toolkit.parareal` with fine propagator ``g`` (the subnetworks), coarse
    propagator ``F`` on slices ``1..N-1``, ``u0 = C^1(x)``, ``initial = [C^2(x), ..., C^N(x)]``,
    ``form=form``, ``iterations=iterations`` and ``backend=backend``.

    The backend places both parallel sweeps, the preprocessings ``C^j(x)`` and the
    subnetworks ``g^j``: ``"serial"`` (default) runs them in turn; ``"devices"``
    (:class:`~parareal_toolkit.backends.devices.DevicesBackend`, after its ``place(network)``)
    puts ``C^j`` and ``g^j`` (``slice_modules``) on device ``j``; ``"distributed"``
    (:class:`~parareal_toolkit.backends.distributed.DistributedBackend`, under torchrun)
    evaluates them on the rank that owns slice ``j``. The coarse chain and ``h`` run where the
    driver runs. All backends give the serial backend's outputs and gradients.

    Parameters
    ----------
    preprocess : sequence of N nn.Module
        ``C^1..C^N``; ``C^1`` is the true preprocessing, ``C^j`` (``j >= 2``) maps the input to
        a guess of subnetwork ``j``'s input (same shape as ``g^{j-1}``'s output).
    subnetworks : sequence of N nn.Module
        ``g^1..g^N``, the original network's middle part cut into ``N`` contiguous pieces.
    coarse : sequence of N - 1 nn.Module
        ``F^1..F^{N-1}``; ``F^j`` approximates ``g^{j+1}`` and must return the same shape.
    postprocess : nn.Module
        ``h``.
    iterations : int, keyword-only
        Parareal iterations per forward pass (default 1, the seed paper). ``iterations = N``
        reproduces the sequential network when every ``F^j(0) = 0`` or ``form="standard"``.
    form : {"correction", "standard"}, keyword-only
        The driver's update rule; the seed paper's network is the correction form.
    backend : str or Backend, keyword-only
        Where the parallel sweeps run (default ``"serial"``); see above.

    Shape mismatches between a guess ``C^{j+1}(x)`` or a coarse output ``F^j(\cdot)`` and the
    subnetwork it stands for raise ``ValueError`` naming ``j`` and both shapes on the first
    forward pass, before torch could broadcast them. An input that is not a tensor, or a
    tensor whose dtype is not the parameters' (float32 or integers into a float64
    network), or one on another device than ``C^1`` (except with the devices backend, which
    moves it) raises ``TypeError`` naming ``x``, the expected and the given kind.

    Examples
    --------
    Proposition 1: with a linear ``g^2`` and ``F^1 = g^2``, the parareal network equals the
    sequential one for any guess ``C^2``.

    >>> import copy
    >>> import torch
    >>> from parareal_toolkit.nn import PararealNetwork, linear_layer, linear_network
    >>> gen = torch.Generator().manual_seed(0)
    >>> C, g1, g2, h = linear_network(num_blocks=2, width=3, in_channels=2, out_features=1, generator=gen)
    >>> C2 = linear_layer("dense", 2, 3, generator=gen)  # any map from the input to g^2's input
    >>> network = PararealNetwork([C, C2], [g1, g2], [copy.deepcopy(g2)], h)
    >>> x = torch.randn(4, 2, dtype=torch.float64, generator=gen)
    >>> bool(torch.allclose(network(x), h(g2(g1(C(x)))), rtol=0, atol=1e-14))
    True
    """

    def __init__(
        self,
        preprocess: Iterable[nn.Module],
        subnetworks: Iterable[nn.Module],
        coarse: Iterable[nn.Module],
        postprocess: nn.Module,
        *,
        iterations: int = 1,
        form: str = "correction",
        backend="serial",
    ):
        super().__init__()
        # registration order (and so parameters() and state_dict order): C, g, F, h
        self.preprocess = _module_list(preprocess, "preprocess")
        self.subnetworks = _module_list(subnetworks, "subnetworks")
        self.coarse = _module_list(coarse, "coarse")
        n = len(self.subnetworks)
        if n == 0:
            raise InputError("`subnetworks` must hold at least one module; got an empty sequence.")
        if len(self.preprocess) != n:
            raise InputError(
                f"`preprocess` must hold one module per subnetwork (C^1..C^N with N = {n}); got {len(self.preprocess)}."
            )
        if len(self.coarse) != n - 1:
            raise InputError(
                f"`coarse` must hold N - 1 = {n - 1} modules (F^1..F^{{N-1}} for N = {n} "
                f"subnetworks); got {len(self.coarse)}."
            )
        if not isinstance(postprocess, nn.Module):
            raise InputTypeError(f"`postprocess` must be an nn.Module; got {type(postprocess).__name__}.")
        self.postprocess = postprocess
        self.iterations = iterations
        self.form = form
        get_backend(backend)  # fail here, not on the first forward, for an unknown name
        self.backend = backend

    @classmethod
    def with_exact_coarse(
        cls,
        preprocess: Iterable[nn.Module],
        subnetworks: Iterable[nn.Module],
        postprocess: nn.Module,
        *,
        iterations: int = 1,
        form: str = "correction",
        copy_weights: bool = True,
    ) -> PararealNetwork:
        """The network with ``F^j = g^{j+1}``, the hypothesis of Proposition 1.

        With ``copy_weights=True`` (default) each ``F^j`` is a deep copy of ``g^{j+1}``, so the
        two can differ once trained; with ``copy_weights=False`` they are the same module
        (shared weights), and then the parareal network's gradient equals the sequential
        network's for every parameter of a linear network.

        Parameters
        ----------
        preprocess, subnetworks, postprocess
            As in :class:`PararealNetwork`.
        iterations, form : keyword-only
            As in :class:`PararealNetwork`.
        copy_weights : bool, keyword-only
            Deep-copy ``g^{j+1}`` into ``F^j`` (default) or share it.

        Returns
        -------
        PararealNetwork
            The network with ``N - 1`` coarse networks ``F^j = g^{j+1}``.
        """
        modules = _module_list(subnetworks, "subnetworks")
        coarse = [copy.deepcopy(g) if copy_weights else g for g in list(modules)[1:]]
        return cls(preprocess, modules, coarse, postprocess, iterations=iterations, form=form)

    @property
    def num_subnetworks(self) -> int:
        """``N``."""
        return len(self.subnetworks)

    def slice_modules(self, j: int) -> list[nn.Module]:
        """The modules that evaluate slice ``j`` (0-based) of a parallel sweep: ``C^{j+1}`` and ``g^{j+1}``.

        A backend that places slices (``DevicesBackend.place``) or gathers them from their
        owners (``DistributedBackend.synchronize``) asks for these instead of reading the
        network's parts.

        Returns
        -------
        list of nn.Module
            ``[preprocess[j], subnetworks[j]]``.
        """
        j = check_slice(j, self.num_subnetworks)
        return [self.preprocess[j], self.subnetworks[j]]

    def shared_modules(self) -> list[nn.Module]:
        """The modules that run where the driver runs, on every rank: the coarse networks and ``h``.

        Returns
        -------
        list of nn.Module
            ``[coarse, postprocess]``.
        """
        return [self.coarse, self.postprocess]

    @property
    def iterations(self) -> int:
        """Parareal iterations per forward pass, at least 1."""
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = check_int(value, "iterations", minimum=1)

    @property
    def form(self) -> str:
        """The driver's update rule, ``"correction"`` or ``"standard"``."""
        return self._form

    @form.setter
    def form(self, value: str) -> None:
        self._form = check_choice(value, "form", FORMS)

    def to_sequential(self) -> nn.Sequential:
        """The network ``f = h ∘ g^N ∘ ... ∘ g^1 ∘ C^1`` that this one approximates (shared modules).

        Returns
        -------
        torch.nn.Sequential
            ``nn.Sequential(C^1, g^1, ..., g^N, h)`` over this network's own modules (no copies).
        """
        return nn.Sequential(self.preprocess[0], *self.subnetworks, self.postprocess)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``f~(x) = h(z_N)``: ``iterations`` parareal iterations on this network's backend.

        Returns
        -------
        torch.Tensor
            The postprocessed end state.
        """
        return self.forward_on(x, self.backend)

    def forward_on(
        self, x: torch.Tensor, backend: str | Backend, *, coarse: Iterable[nn.Module] | None = None
    ) -> torch.Tensor:
        """``f~(x)`` with the parallel sweeps run by ``backend`` instead of the network's own.

        The same computation as :meth:`forward` (identical output with the serial backend):
        the driver with the network's ``iterations`` and ``form``, the preprocessings and
        the subnetworks mapped by ``backend``. Placing the modules where the backend wants
        them (``DevicesBackend.place``) is the caller's business.

        Parameters
        ----------
        x : torch.Tensor
            The input batch.
        backend : str or Backend
            A backend name (see :data:`parareal_toolkit.BACKENDS`) or a backend object.
        coarse : sequence of N - 1 nn.Module, optional, keyword-only
            Stand-ins for the coarse networks ``F^j`` for this pass only, for example
            ``torch.compile`` wrappers that share their parameters (the Table 2 harness
            times the chain that way); default the network's own.

        Returns
        -------
        torch.Tensor
            ``h(z_N)``, the network's output for ``x``.
        """
        runner = get_backend(backend)
        self._check_input(x, runner)
        n = self.num_subnetworks
        chain = _module_list(self.coarse if coarse is None else coarse, "coarse")
        if len(chain) != n - 1:
            raise InputError(f"`coarse` must hold N - 1 = {n - 1} modules; got {len(chain)}.")
        # C^1(x)..C^N(x) are independent: a parallel sweep like the subnetworks'.
        guesses = runner.map(ModulePropagator(self.preprocess), [x] * n, range(n))
        shapes = _InterfaceShapes()
        result = parareal(
            _SubnetworkPropagator(self.subnetworks, shapes),
            _CoarsePropagator(chain, shapes),
            guesses[0],
            iterations=self.iterations,
            initial=guesses[1:],
            form=self.form,
            monitor=False,
            store_iterates=False,
            backend=runner,
        )
        return self.postprocess(result.final)

    def _check_input(self, x, runner) -> None:
        """Name a wrong input kind, dtype or device before torch raises about ``m1`` and ``m2``."""
        if not isinstance(x, torch.Tensor):
            hint = " (convert it with torch.as_tensor)" if hasattr(x, "__array__") else ""
            raise InputTypeError(f"`x` must be a torch.Tensor; got {type(x).__name__}{hint}.")
        if x.numel() == 0:
            raise InputError(f"`x` must be a batch of at least one sample; got a tensor of shape {tuple(x.shape)}.")
        parameter = next((p for p in self.parameters() if p.is_floating_point() or p.is_complex()), None)
        if parameter is None:
            return
        if x.dtype != parameter.dtype:
            raise InputTypeError(
                f"`x` must have the network's dtype {parameter.dtype}; got {x.dtype} "
                f"(convert the input with x.to({parameter.dtype}) or the network with .to({x.dtype}))."
            )
        # The devices backend moves each input to its slice's device itself; the others
        # evaluate C^1(x) where C^1 lives.
        if getattr(runner, "name", None) != "devices":
            first = next(iter(self.preprocess[0].parameters()), None)
            if first is not None and x.device != first.device:
                raise InputTypeError(
                    f"`x` must be on the device of the network's first module, {first.device}; got {x.device} "
                    f"(move it with x.to({str(first.device)!r}))."
                )

    def extra_repr(self) -> str:
        return (
            f"num_subnetworks={self.num_subnetworks}, iterations={self.iterations}, form={self.form!r}, "
            f"backend={self.backend!r}"
        )
