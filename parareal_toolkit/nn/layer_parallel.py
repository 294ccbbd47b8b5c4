r"""Layer-parallel ResNets: a plain pre-activation ResNet whose forward and backward are solved across layers by MGRIT.

Günther, Ruthotto, Schroder, Cyr & Gauger, "Layer-parallel training of deep residual
neural networks", SIAM J. Math. Data Sci. 2020 (torchbraid). The network is unchanged:
each stage's equal-shape units (those after its shape-changing first unit) are the time
steps ``x_{j+1} = x_j + f_j(x_j)`` of a forward-Euler scheme with step ``h = 1`` and
``f_j(x) = unit_j(x) - x`` the residual branch, and :func:`parareal_toolkit.mgrit` solves
them as one time grid. Coarse level ``l`` takes the steps ``x + m^l f_{c m^l}(x)``: the
weights of the *first fine unit of each coarse interval*, injected, with the step
``h m^l`` (torchbraid's default). The stem, each stage's first unit and the
postprocessing run sequentially, and the stages one after the other.

Numerical facts (pinned by ``tests/test_layer_parallel.py`` in float64):

* A stage with ``N`` equal-shape units runs its first ``N_0`` by MGRIT, the largest
  multiple of ``m^(L'-1)`` with ``L' = min(L, 1 + floor(log_m N))`` levels, and the other
  ``N - N_0`` sequentially after them; a stage with ``N < m`` runs sequentially.
* With F-relaxation ``N_1 = N_0 / m`` iterations make the forward the serial ResNet's to
  rounding (any number of levels, V- or F-cycle); with FCF ``ceil(N_1 / 2)``. The default
  ``iterations=None`` is that count; larger counts are capped at it. Fewer iterations are
  inexact: the error falls with ``K``.
* Cost per forward of one MGRIT block, in unit evaluations (a fine or coarse step is one
  evaluation of a residual branch), two levels, F-relaxation, ``initial="coarse"``:
  ``N_1 + N_0 + K (N_0 + N_1 - 1)``, against ``N_0`` serially; in training mode ``N_0``
  more that update the running statistics (parallel over the units). Every map of ``N_l``
  steps is parallel over the steps; the coarsest level is sequential.
* ``backward="adjoint"``: the forward keeps only the fine states ``x_0..x_N``; the backward
  recomputes each unit once on its input (``N_0`` evaluations, parallel), solves the adjoint
  ``λ_j = λ_{j+1} + (∂f_j/∂x)(x_j)^T λ_{j+1}`` by MGRIT backwards in the layer index (each
  step one vector-Jacobian product; the coarse step on an interval is the transpose of the
  forward coarse step on it, torchbraid's rule), then forms every parameter gradient
  ``(∂f_j/∂θ_j)^T λ_{j+1}`` at once. With enough adjoint iterations (the same counts) the
  gradients are the serial network's to rounding. ``backward="autograd"`` differentiates
  through the MGRIT iterations instead (exact derivative of the inexact forward). The
  backward recomputes the units in their current mode: do not switch between training and
  evaluation mode between a forward and its backward.
* The state dict is the plain :class:`~parareal_toolkit.nn.PreActResNet`'s, key for key,
  and the running statistics after a training forward at convergence are the serial
  network's: MGRIT evaluates each unit many times, so during the solve no norm layer
  updates its statistics (``track_running_stats`` is switched off; BatchNorm in training
  mode normalises with the batch statistics all the same), and afterwards each unit is
  evaluated once on its converged input with tracking on, the serial forward's update.

Backends (:attr:`~parareal_toolkit.nn.LayerParallelResNet.backend`; ``tests/test_layer_parallel_backends.py``):

* ``None`` (default): every map of every MGRIT solve runs serially in this process.
* :class:`~parareal_toolkit.backends.devices.DevicesBackend` (one process, several
  devices; :meth:`~parareal_toolkit.nn.LayerParallelResNet.place`): each block's units in contiguous chunks
  over the devices, the rest on the output device; a step moves the state to its unit's
  device and back. Both backward modes; the computation is the serial backend's, term by
  term (equal bit for bit on CPU devices).
* :class:`~parareal_toolkit.backends.distributed.DistributedBackend` (torchrun, SPMD),
  ``backward="adjoint"`` only (``"autograd"`` is refused, naming ``backward``: a unit's
  parameters enter fine steps evaluated by whichever rank owns that position of each map
  and the coarse steps replicated on every rank, so autograd would leave partial gradients
  on each rank). The forward runs MGRIT without a graph, every map's results broadcast to
  every rank, so outputs and fine states are identical everywhere; each rank then updates
  every unit's running statistics from those states (replicated, identical). The backward
  solves the adjoint by MGRIT through the same backend; a rank recomputes only the units
  it needs (the adjoint steps it evaluates and those it differentiates, each once); the
  parameter gradients ``(∂f_j/∂θ_j)^T λ_{j+1}`` of unit ``j`` are computed by the fixed
  rank ``slice_owners(N_0, R)[j]``, zeros elsewhere, and *one* flattened all-reduce (a
  sum) of the block's parameter count per backward of the block completes them. Every
  rank returns the same, complete gradients (bit for bit: each entry has one non-zero
  term), so a placement needs no gradient reduction or synchronisation of its own
  (data-parallel averaging on top is unchanged). At the exact iteration counts outputs and
  gradients are the serial network's to rounding on every rank; with fewer iterations they
  are the single-process layer-parallel network's. ``last_solves`` counts per rank:
  ``evaluations`` and ``adjoint_evaluations`` are the whole algorithm's (the same on every
  rank; a rank evaluates about ``1/R`` of each map's steps and all of the coarsest solve),
  ``statistics_evaluations`` this rank's (all ``N_0``), ``recomputed_units`` and
  ``gradient_units`` the units this rank recomputed and differentiated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch

from .._names import CYCLE_NAMES, MGRIT_INITIAL_NAMES, RELAX_NAMES
from .._validation import check_choice, check_int
from ..backends.devices import DevicesBackend
from ..backends.distributed import slice_owners
from ..errors import InputError, InputTypeError
from ..plans.layer_parallel import layer_parallel_step_cost, mgrit_block_work
from ._layer_parallel import SolverOptions, is_distributed, run_stage, stage_split
from .bottleneck import NormLayer
from .resnet import PreActResNet

__all__ = ["LayerParallelResNet", "BACKWARD_MODES", "mgrit_block_work", "layer_parallel_step_cost"]

BACKWARD_MODES = ("autograd", "adjoint")


def _check_backend(backend: Any, backward: str) -> Any:
    """``backend`` checked: ``None`` (``"serial"`` too), a ``DevicesBackend``, a ``DistributedBackend``
    or any other object with the backends' ``map(propagator, states, slices)`` (a recording or
    timing backend: it must return what the serial evaluation returns, in this process).

    The distributed backend needs ``backward="adjoint"`` (module docstring).
    """
    if isinstance(backend, str) and backend == "serial":
        return None
    if backend is not None and (isinstance(backend, str) or not callable(getattr(backend, "map", None))):
        raise InputTypeError(
            "`backend` must be None (serial), a DevicesBackend, a DistributedBackend or another backend object "
            f"(with map(propagator, states, slices)); got {backend!r}."
        )
    if is_distributed(backend) and backward != "adjoint":
        raise InputError(
            f"`backward` must be 'adjoint' with the distributed backend; got {backward!r}: autograd through "
            "maps split over ranks would leave each rank a partial parameter gradient (use backward='adjoint')."
        )
    return backend


def _check_options(options: dict[str, Any]) -> SolverOptions:
    """The options of :class:`LayerParallelResNet` validated, each refusal naming its argument."""
    iterations, adjoint = options["iterations"], options["adjoint_iterations"]
    return SolverOptions(
        iterations=None if iterations is None else check_int(iterations, "iterations", minimum=1),
        levels=check_int(options["levels"], "levels", minimum=2),
        coarsening=check_int(options["coarsening"], "coarsening", minimum=2),
        relax=check_choice(options["relax"], "relax", RELAX_NAMES),
        cycle=check_choice(options["cycle"], "cycle", CYCLE_NAMES),
        initial=check_choice(options["initial"], "initial", MGRIT_INITIAL_NAMES),
        backward=check_choice(options["backward"], "backward", BACKWARD_MODES),
        adjoint_iterations=None if adjoint is None else check_int(adjoint, "adjoint_iterations", minimum=1),
    )


class LayerParallelResNet(PreActResNet):
    """A :class:`~parareal_toolkit.nn.PreActResNet` whose stages run across their layers by MGRIT.

    With F-relaxation, ``N_1 = N_0 / m`` iterations per block (``ceil(N_1 / 2)`` with FCF)
    make the output, and with ``backward="adjoint"`` as many adjoint iterations the
    gradients, the serial network's to rounding; the default ``iterations=None`` uses that
    count. A two-level F-relaxation forward costs ``N_1 + N_0 + K (N_0 + N_1 - 1)`` unit
    evaluations per block of ``N_0`` units (``N_0`` serially), plus ``N_0`` in training mode
    for the running statistics. Blocks, levels and the rules are in the module docstring.

    The network is the plain ResNet (a subclass, no module or buffer added): its state
    dict loads into :class:`~parareal_toolkit.nn.PreActResNet` and back.

    Parameters
    ----------
    depth : int
        ``9n + 2`` (``n`` units per stage, ``N = n - 1`` of them of equal shape).
    num_classes : int
        Outputs of the classifier.
    norm_layer : callable, keyword-only, optional
        As for :func:`~parareal_toolkit.nn.preact_resnet` (default ``nn.BatchNorm2d``).
    iterations : int, keyword-only, optional
        ``K >= 1`` MGRIT iterations per block and forward; ``None`` (default): the count
        that makes the forward exact. Capped at it.
    levels : int, keyword-only
        ``L >= 2`` levels (default 2); fewer where a stage has too few units.
    coarsening : int, keyword-only
        ``m >= 2`` (default 2).
    relax : {"F", "FCF"}, keyword-only
        The relaxation (default ``"F"``).
    cycle : {"V", "F"}, keyword-only
        The cycle (default ``"V"``; the same for two levels).
    initial : {"coarse", "nested", "u0"}, keyword-only
        The initial guess (default ``"coarse"``: a sweep of level 1), as for
        :func:`~parareal_toolkit.mgrit`.
    backward : {"autograd", "adjoint"}, keyword-only
        How gradients are computed (default ``"autograd"``; module docstring).
    adjoint_iterations : int, keyword-only, optional
        ``>= 1`` MGRIT iterations of the adjoint solve; ``None`` (default): exact.

    The validated options are ``options`` (a dict, by name); ``configure`` changes them.

    Attributes
    ----------
    last_solves : list of dict
        One record per MGRIT block of the last forward (stage, ``units`` ``N_0``,
        ``levels``, ``iterations``, ``evaluations`` per level, ``statistics_evaluations``;
        after a backward in adjoint mode ``adjoint_iterations``, ``adjoint_evaluations``,
        ``recomputed_units`` and ``gradient_units``; per rank under the distributed
        backend, module docstring).

    :attr:`backend` says what maps the MGRIT blocks (default ``None``: serial); set it or
    call :meth:`place`.

    Raises
    ------
    InputError, InputTypeError
        For an option out of range or of the wrong kind, naming it: ``iterations < 1``,
        ``levels < 2``, ``coarsening < 2``, an unknown ``relax``, ``cycle``, ``initial`` or
        ``backward``; ``backward="autograd"`` with the distributed backend (here, where
        the backend is set, and in the forward).

    Examples
    --------
    ResNet-47 (four equal units per stage) on two 8x8 images: one iteration of two-level
    MGRIT is inexact; two (``N_1 = 2``) give the serial output to rounding, with
    ``2 + 4 + 2 (4 + 2 - 1) = 16`` unit evaluations per block.

    >>> import torch
    >>> from parareal_toolkit.nn import LayerParallelResNet, preact_resnet
    >>> _ = torch.manual_seed(0)
    >>> serial = preact_resnet(47).double().eval()
    >>> model = LayerParallelResNet(47, iterations=1).double().eval()
    >>> model.load_state_dict(serial.state_dict())
    <All keys matched successfully>
    >>> x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    >>> with torch.no_grad():
    ...     inexact = (model(x) - serial(x)).abs().max().item()
    ...     exact = (model.configure(iterations=2)(x) - serial(x)).abs().max().item()
    >>> inexact > 1e-6, exact < 1e-12
    (True, True)
    >>> [sum(record["evaluations"]) for record in model.last_solves]
    [16, 16, 16]
    """

    def __init__(
        self,
        depth: int = 1001,
        num_classes: int = 10,
        *,
        norm_layer: NormLayer | None = None,
        iterations: int | None = None,
        levels: int = 2,
        coarsening: int = 2,
        relax: str = "F",
        cycle: str = "V",
        initial: str = "coarse",
        backward: str = "autograd",
        adjoint_iterations: int | None = None,
    ):
        solver = _check_options(
            {
                "iterations": iterations,
                "levels": levels,
                "coarsening": coarsening,
                "relax": relax,
                "cycle": cycle,
                "initial": initial,
                "backward": backward,
                "adjoint_iterations": adjoint_iterations,
            }
        )
        super().__init__(depth, num_classes, norm_layer=norm_layer)
        self._solver = solver
        self._serial = False
        self._backend: Any = None
        self.last_solves: list[dict[str, Any]] = []

    @property
    def backend(self) -> Any:
        """What maps the MGRIT blocks: ``None`` (serial, the default), a ``DevicesBackend``, a ``DistributedBackend`` or another backend.

        Setting it checks it: another object is refused (``InputTypeError``), and so is
        the distributed backend with ``backward="autograd"`` (``InputError`` naming
        ``backward``). ``"serial"`` is stored as ``None``.
        """
        return self._backend

    @backend.setter
    def backend(self, backend: Any) -> None:
        self._backend = _check_backend(backend, self._solver.backward)

    def place(self, backend: Any) -> LayerParallelResNet:
        """Move the network where ``backend`` evaluates it and set :attr:`backend`.

        A ``DevicesBackend``: each MGRIT block's units in contiguous chunks over its
        devices (unit ``j`` of ``N`` on ``devices[slice_owners(N, len(devices))[j]]``, for
        the current options' blocks), everything else (stem, each stage's first unit,
        units run sequentially, the head) on the output device. A step moves the state to
        its unit's device and back, so any placement gives the same results; this one keeps
        the outputs on the output device. Other backends leave the modules where they are.

        Returns
        -------
        LayerParallelResNet
            ``self``, for chaining.

        Raises
        ------
        InputError, InputTypeError
            As setting :attr:`backend` does.

        Examples
        --------
        Two CPU "devices": units 0-1 of each four-unit block on the first, 2-3 on the second.

        >>> from parareal_toolkit.backends.devices import DevicesBackend
        >>> from parareal_toolkit.nn import LayerParallelResNet
        >>> model = LayerParallelResNet(47).place(DevicesBackend(["cpu", "cpu"]))
        >>> model.backend
        DevicesBackend(devices=['cpu', 'cpu'], output_device='cpu')
        """
        backend = _check_backend(backend, self._solver.backward)
        if isinstance(backend, DevicesBackend):
            self.to(backend.output_device)
            for layer in (self.layer1, self.layer2, self.layer3):
                rest = list(layer)[1:]
                count, _ = stage_split(len(rest), self._solver.levels, self._solver.coarsening)
                owners = slice_owners(count, len(backend.devices))
                for unit, owner in zip(rest[:count], owners):
                    unit.to(backend.devices[owner])
        self._backend = backend
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The validated solver options, by name (``iterations``, ``levels``, ...)."""
        return asdict(self._solver)

    def configure(self, **changes: Any) -> LayerParallelResNet:
        """Change solver options (the keyword arguments of the constructor after ``norm_layer``), checked.

        Returns
        -------
        LayerParallelResNet
            ``self``, for chaining.

        Raises
        ------
        InputError, InputTypeError
            For an unknown option name, or a value the constructor would refuse.

        Examples
        --------
        >>> from parareal_toolkit.nn import LayerParallelResNet
        >>> LayerParallelResNet(20).configure(iterations=3, relax="FCF").options["relax"]
        'FCF'
        """
        current = asdict(self._solver)
        unknown = sorted(set(changes) - set(current))
        if unknown:
            raise InputError(f"`configure` takes the options {tuple(current)}; got unknown {unknown}.")
        solver = _check_options({**current, **changes})
        _check_backend(self._backend, solver.backward)
        self._solver = solver
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``g(C(x))`` with each stage's equal-shape units solved by MGRIT (module docstring).

        Returns
        -------
        torch.Tensor
            The trunk's output, the serial network's to rounding at convergence.
        """
        if self._serial:
            return super().features(x)
        _check_backend(self._backend, self._solver.backward)
        x = self.stem(x)
        solves = []
        for stage, layer in enumerate((self.layer1, self.layer2, self.layer3)):
            x, block = run_stage(list(layer), x, self._solver, self._backend)
            if block is not None:
                solves.append({"stage": stage, **block.record})
                block.record = solves[-1]  # an adjoint backward adds its counts to this record
        self.last_solves = solves
        return x

    @contextlib.contextmanager
    def serial(self) -> Iterator[LayerParallelResNet]:
        """Within the block the network runs layer by layer: the plain ResNet its weights define.

        What its checkpoint holds and how a trainer evaluates it: the test error of the
        trained weights, whatever the number of MGRIT iterations they were trained with.

        Yields
        ------
        LayerParallelResNet
            ``self``.

        Examples
        --------
        >>> import torch
        >>> from parareal_toolkit.nn import LayerParallelResNet, preact_resnet
        >>> _ = torch.manual_seed(0)
        >>> model = LayerParallelResNet(47, iterations=1).double().eval()
        >>> serial = preact_resnet(47).double().eval()
        >>> _ = serial.load_state_dict(model.state_dict())
        >>> x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
        >>> with torch.no_grad(), model.serial():
        ...     bool(torch.equal(model(x), serial(x)))
        True
        """
        before, self._serial = self._serial, True
        try:
            yield self
        finally:
            self._serial = before

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in asdict(self._solver).items())
