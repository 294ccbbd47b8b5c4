"""``torch.distributed``: the slices of a parallel sweep split over ranks (torchrun, gloo or NCCL).

Every rank runs the same program: the same :func:`~parareal_toolkit.parareal` call, the same
cheap sequential coarse sweeps, the same postprocessing and loss (SPMD). Only the parallel
sweeps are divided: slice ``j`` of a sweep is evaluated by one *owner* rank (contiguous
blocks of slices per rank), and its result is broadcast to all ranks. Results are therefore
identical on every rank and equal to the serial backend's.

For networks the interface tensors travel forward by broadcast and their gradients come back
in ``loss.backward()`` unchanged: each sweep is one autograd node (:class:`_Sweep`), the
same on every rank, so the collectives of the backward pass run in the same order
everywhere. The owner keeps the graph of its slices inside that node (as
``torch.utils.checkpoint`` does) and back-propagates through it there, so the parameters
of subnetwork ``j`` (and of its preprocessing ``C^j``) receive exact gradients on their owner
only; replicated parts (coarse networks, postprocessing) receive identical, exact gradients on
every rank. Since every rank computes the same loss, the gradient arriving at a sweep's output
is already complete on its owner: no reduction is needed, only a broadcast of the input
gradients from their owners.

Data parallelism composes by giving each data-parallel replica its own process ``group``.

Failing fast: every process group the toolkit sets up (this module's
:func:`init_distributed` and :func:`process_group`, the training loop, the pipelining runtime)
has a timeout, :data:`~parareal_toolkit.backends.errors.DEFAULT_TIMEOUT_S` (300 s) unless
told otherwise, instead of gloo's 30 minutes; it bounds every collective, gloo's included. A
rank that is killed makes the collectives of the others fail at once (its connections
close); a rank that stops (``SIGSTOP``, a deadlock, a debugger) makes them fail when the
timeout expires. Either way every other rank raises :class:`DistributedError`, one line
naming its rank, the operation, the ranks that went silent and the timeout, and the rank
that failed first keeps its own error: a ``with process_group()`` block that raises does not
wait at a barrier on its way out, and tearing the group down never replaces that error.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist

from .._validation import check_timeout
from ..errors import InputError
from ..propagator import Propagator
from .errors import DEFAULT_TIMEOUT_S, DistributedError

__all__ = [
    "DistributedBackend",
    "DistributedError",
    "DEFAULT_TIMEOUT_S",
    "collective",
    "environment_rank",
    "init_distributed",
    "is_communication_failure",
    "process_group",
    "slice_owners",
]

# What gloo says when a peer is gone or silent: a plain RuntimeError, mostly starting with the
# transport's source location ("[.../gloo/transport/tcp/pair.cc:561] Connection closed by
# peer ..."), sometimes bare ("Application timeout caused pair closure", after an earlier
# timeout on the same connection). NCCL and the TCP store raise torch.distributed.DistError.
# Gloo's refusals of a bad call ("ProcessGroupGloo::broadcast: invalid root rank") are bugs.
_COMMUNICATION_MARKERS = (
    "gloo/transport",
    "timed out waiting",
    "application timeout caused pair closure",
    "connection closed by peer",
    "connection reset by peer",
    "socket closed",
    "broken pipe",
)


def is_communication_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says that a collective failed because a peer died, stopped or was unreachable.

    True for :class:`DistributedError`, torch's ``DistError`` family (NCCL, the TCP store)
    and gloo's ``RuntimeError`` messages (timeouts, closed or reset connections); false for
    other errors, which are the computation's own and keep their traceback.

    Returns
    -------
    bool
        Whether the failure is one of communication rather than of the computation.
    """
    if isinstance(exc, (DistributedError, dist.DistError)):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _COMMUNICATION_MARKERS)


def _reason(exc: BaseException) -> str:
    """The backend's message in one short line: no source location, first sentence only."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^(\[[^\]]*\]\s*)+", "", text)  # gloo's "[.../pair.cc:561] "
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= 200 else text[:197] + "..."


def _format_seconds(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds:g} s"


def _group_timeout(group=None) -> float | None:
    """The timeout of ``group`` (default: the world) in seconds, where torch tells it."""
    pg = dist.group.WORLD if group is None else group
    if pg is None:
        return None
    for device in ("cpu", "cuda"):  # gloo, NCCL
        try:
            timeout = getattr(pg._get_backend(torch.device(device)).options, "_timeout", None)
        except (AttributeError, RuntimeError, ValueError):
            continue
        if isinstance(timeout, datetime.timedelta):
            return timeout.total_seconds()
    return None


def _failure_message(exc: BaseException, operation: str, group=None) -> str:
    """One line: who failed, doing what, which ranks may be silent, the timeout, the backend's reason."""
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(group), dist.get_world_size(group)
        timeout = _group_timeout(group)
    else:  # the group is gone (or not set up yet)
        rank, world_size = environment_rank()
        timeout = None
    others = [r for r in range(world_size) if r != rank]
    if not others:
        peers = "a rank"
    elif len(others) == 1:
        peers = f"rank {others[0]}"
    elif len(others) <= 8:
        peers = "one of ranks " + ", ".join(map(str, others))
    else:
        peers = f"another of the {world_size} ranks"
    return (
        f"rank {rank} of {world_size}: {operation} failed: {peers} died, stopped or did not answer within the "
        f"process group's timeout ({_format_seconds(timeout)}); {_reason(exc)}"
    )


def collective(operation: Callable[..., Any], *args: Any, group=None, **kwargs: Any) -> Any:
    """Call ``operation(*args, group=group, **kwargs)``, a ``torch.distributed`` collective, failing clearly.

    The collective returns within the group's timeout or raises: a communication failure
    (a timeout, a lost connection: :func:`is_communication_failure`) becomes
    :class:`DistributedError` with a one-line message naming this rank, the operation, the
    ranks that may have gone silent and the timeout; any other error (a bad call) propagates
    unchanged.

    Returns
    -------
    object
        What ``operation`` returns (``None`` for the synchronous collectives).

    Raises
    ------
    DistributedError
        When the collective fails for want of a peer.
    """
    try:
        return operation(*args, group=group, **kwargs)
    except RuntimeError as exc:  # gloo/NCCL timeouts and lost peers are RuntimeErrors
        if isinstance(exc, DistributedError) or not is_communication_failure(exc):
            raise  # a bad call (a wrong root rank, mismatched shapes) is a bug: keep its traceback
        name = getattr(operation, "__name__", repr(operation))
        raise DistributedError(_failure_message(exc, name, group)) from exc


def environment_rank() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` as torchrun (or a hand launch) sets them; ``(0, 1)`` where unset.

    Returns
    -------
    tuple of int
        This process's rank and the number of processes, with ``0 <= rank < world_size``.

    Raises
    ------
    ValueError
        Naming the variable, when it is not an integer or the pair is out of range.
    """
    values = {}
    for name, default in (("RANK", "0"), ("WORLD_SIZE", "1")):
        text = os.environ.get(name, default)
        try:
            values[name] = int(text)
        except ValueError:
            raise InputError(f"environment variable {name} must be an integer; got {text!r}.") from None
    rank, world_size = values["RANK"], values["WORLD_SIZE"]
    if world_size < 1 or not 0 <= rank < world_size:
        raise InputError(f"environment variables RANK={rank} and WORLD_SIZE={world_size}: need 0 <= RANK < WORLD_SIZE.")
    return rank, world_size


def init_distributed(backend: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, int]:
    """Initialise the default process group from torchrun's environment; return ``(rank, world_size)``.

    Does nothing but report when the group is already initialised (its own timeout stays).

    Parameters
    ----------
    backend : str, optional
        The ``torch.distributed`` backend; defaults to NCCL when CUDA is available and gloo
        otherwise. With NCCL each process uses GPU ``LOCAL_RANK``.
    timeout : float, keyword-only
        Seconds that bound joining the group and every collective, gloo's included: a rank
        that dies makes the others fail at once, a rank that stops or never answers makes
        them fail after ``timeout`` (default 300; at most one week).

    Returns
    -------
    tuple of int
        ``(rank, world_size)`` of this process in the default group.

    Raises
    ------
    DistributedError
        (a ``RuntimeError``) When the group is not initialised and torchrun's variables
        (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) are not set, or when
        not every rank joins within ``timeout`` (or the master cannot be reached).
    ValueError
        For a timeout that is not a positive number of seconds, or ``RANK``/``WORLD_SIZE``
        that are not integers with ``0 <= RANK < WORLD_SIZE``.
    """
    timeout = check_timeout(timeout)
    if not dist.is_initialized():
        missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise DistributedError(
                f"torch.distributed is not initialised and {missing} are not set: launch with "
                "`torchrun --nproc-per-node N script.py`."
            )
        rank, world_size = environment_rank()
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
        except RuntimeError as exc:
            if not is_communication_failure(exc):
                raise
            address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
            raise DistributedError(
                f"rank {rank} of {world_size}: could not set up the process group at {address}: not every rank "
                f"joined within the timeout ({_format_seconds(timeout)}); {_reason(exc)}"
            ) from exc
    return dist.get_rank(), dist.get_world_size()


@contextmanager
def process_group(backend: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[tuple[int, int]]:
    """The default process group for the duration of a ``with`` block, as ``init_distributed()`` sets it up.

    A group this call initialises is destroyed on exit, also after an exception, so the
    process can set up another one later; a group that was already initialised is used and
    left alone (its owner tears it down). A block that ends normally leaves through a barrier
    (every rank leaves together: a rank exiting under a live gloo peer can abort it); a block
    that raises leaves at once, so that its error is the one reported, and a communication
    failure escaping it (gloo's ``RuntimeError``, torch's ``DistError``, from
    ``DistributedDataParallel`` for example) is raised as :class:`DistributedError`.

    Yields
    ------
    tuple of int
        ``(rank, world_size)`` of this process.

    Raises
    ------
    DistributedError
        When a collective inside the block, or the barrier on leaving, fails.
    """
    created = not dist.is_initialized()
    rank, world_size = init_distributed(backend, timeout=timeout)
    failed = True
    try:
        try:
            yield rank, world_size
        except RuntimeError as exc:
            if world_size > 1 and not isinstance(exc, DistributedError) and is_communication_failure(exc):
                raise DistributedError(_failure_message(exc, "a collective")) from exc
            raise
        if created and world_size > 1:
            collective(dist.barrier)
        failed = False
    finally:
        if created and dist.is_initialized():
            try:
                dist.destroy_process_group()
            except RuntimeError:
                if not failed:
                    raise  # nothing else to report: this is the error


def slice_owners(count: int, world_size: int) -> list[int]:
    """The rank that evaluates each of ``count`` positions: contiguous, balanced blocks.

    Block sizes differ by at most one, the larger blocks on the lower ranks.

    Returns
    -------
    list of int
        ``count`` ranks in ``0..world_size-1``, non-decreasing.

    Examples
    --------
    >>> from parareal_toolkit.backends.distributed import slice_owners
    >>> slice_owners(5, 2)
    [0, 0, 0, 1, 1]
    """
    base, extra = divmod(count, world_size)
    owners: list[int] = []
    for rank in range(world_size):
        owners += [rank] * (base + (1 if rank < extra else 0))
    return owners


class _Sweep(torch.autograd.Function):
    """One parallel sweep as one autograd node, identical on every rank."""

    @staticmethod
    def forward(ctx, backend, propagator, slices, num_states, *inputs):
        states = inputs[:num_states]
        owners = slice_owners(len(slices), backend.world_size)
        local_inputs: dict[int, torch.Tensor] = {}
        local_outputs: dict[int, torch.Tensor] = {}
        with torch.enable_grad():
            for i, (u, j) in enumerate(zip(states, slices)):
                if owners[i] != backend.rank:
                    continue
                # A fresh leaf per input: the owner back-propagates to it inside backward.
                leaf = u.detach().requires_grad_(u.requires_grad)
                local_inputs[i] = leaf
                local_outputs[i] = propagator(leaf, j)
        outputs = backend._broadcast_all({i: y.detach() for i, y in local_outputs.items()}, owners)
        ctx.backend, ctx.owners = backend, owners
        ctx.local_inputs, ctx.local_outputs = local_inputs, local_outputs
        ctx.input_meta = [(tuple(u.shape), u.dtype, u.requires_grad) for u in states]
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        backend, owners = ctx.backend, ctx.owners
        pairs = [
            (y, g)
            for i, y in ctx.local_outputs.items()
            if y.requires_grad
            for g in [grad_outputs[i] if grad_outputs[i] is not None else torch.zeros_like(y)]
        ]
        if pairs:
            torch.autograd.backward([y for y, _ in pairs], [g for _, g in pairs])
        input_grads: list[torch.Tensor | None] = []
        for i, (shape, dtype, requires_grad) in enumerate(ctx.input_meta):
            if not requires_grad:
                input_grads.append(None)
                continue
            if owners[i] == backend.rank:
                leaf = ctx.local_inputs[i]
                grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                grad = grad.contiguous()
            else:
                grad = torch.empty(shape, dtype=dtype, device=backend.device)
            backend.broadcast(grad, owners[i])
            input_grads.append(grad)
        return (None, None, None, None, *input_grads, None)


class DistributedBackend:
    """Split every parallel sweep over the ranks of a ``torch.distributed`` process group.

    Works for numpy states (ODE propagators: broadcast, no autograd) and torch tensors
    (networks: autograd across ranks, see the module docstring). ``torch.distributed`` must be
    initialised (``init_distributed()`` under ``torchrun``). Every rank must make the same
    calls in the same order, as in any SPMD program.

    Parameters
    ----------
    group : ProcessGroup, optional
        The ranks that share the slices (default: the whole world).
    """

    name = "distributed"

    def __init__(self, group=None):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "the distributed backend needs an initialised torch.distributed process group: call "
                "parareal_toolkit.backends.distributed.init_distributed() under torchrun first."
            )
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.device = (
            torch.device("cuda", torch.cuda.current_device())
            if dist.get_backend(group) == "nccl"
            else torch.device("cpu")
        )

    def global_rank(self, group_rank: int) -> int:
        """The world rank of rank ``group_rank`` of this backend's group.

        Returns
        -------
        int
            ``group_rank`` itself when the group is the whole world.
        """
        return group_rank if self.group is None else dist.get_global_rank(self.group, group_rank)

    def broadcast(self, tensor: torch.Tensor, owner: int) -> torch.Tensor:
        """Overwrite ``tensor`` on every rank of the group with the value it has on rank ``owner``.

        Every rank of the group must call it, in the same order, with a tensor of the same
        shape and dtype on :attr:`device`.

        Parameters
        ----------
        tensor : torch.Tensor
            The value to send (on ``owner``) or the contiguous buffer to receive it (elsewhere).
        owner : int
            The sender's rank within this backend's group.

        Returns
        -------
        torch.Tensor
            ``tensor``, now equal on every rank.

        Raises
        ------
        DistributedError
            When a peer is gone or silent past the group's timeout.
        """
        self._collective(dist.broadcast, tensor, src=self.global_rank(owner), group=self.group)
        return tensor

    def _collective(self, operation, *args, **kwargs):
        return collective(operation, *args, **kwargs)  # DistributedError when a peer is gone

    def _broadcast_all(self, local: dict[int, Any], owners: Sequence[int]) -> list[Any]:
        """Every position's value on every rank, each broadcast from its owner, in position order."""
        meta = {
            i: ("numpy" if isinstance(v, np.ndarray) else "torch", tuple(v.shape), v.dtype) for i, v in local.items()
        }
        gathered: list[dict | None] = [None] * self.world_size
        self._collective(dist.all_gather_object, gathered, meta, group=self.group)
        described = {i: m for part in cast(list[dict], gathered) for i, m in part.items()}  # every rank sent one
        values = []
        for i, owner in enumerate(owners):
            kind, shape, dtype = described[i]
            if kind == "numpy":
                dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            if owner == self.rank:
                value = local[i]
                tensor = torch.from_numpy(np.ascontiguousarray(value)) if kind == "numpy" else value.contiguous()
                tensor = tensor.to(self.device) if kind == "numpy" else tensor
            else:
                tensor = torch.empty(shape, dtype=dtype, device=self.device)
            self.broadcast(tensor, owner)
            values.append(tensor.cpu().numpy() if kind == "numpy" else tensor)
        return values

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """Evaluate the slices this rank owns and broadcast every result to every rank.

        Returns
        -------
        list
            One state per slice, identical on every rank (torch tensors stay in the autograd
            graph when gradients are enabled).
        """
        slices = list(slices)
        states = list(states)
        owners = slice_owners(len(slices), self.world_size)
        if torch.is_grad_enabled() and all(isinstance(u, torch.Tensor) for u in states):
            # The anchor records the sweep in the graph even when no input needs a gradient
            # but the propagator's parameters do (a network's input x feeding C^j).
            anchor = torch.empty(0, requires_grad=True)
            return list(_Sweep.apply(self, propagator, slices, len(states), *states, anchor))
        local = {i: propagator(u, j) for i, (u, j) in enumerate(zip(states, slices)) if owners[i] == self.rank}
        return self._broadcast_all(local, owners)

    def owner(self, j: int, num_slices: int) -> int:
        """The rank that evaluates slice ``j`` of a ``num_slices``-slice sweep.

        Returns
        -------
        int
            The owner's rank within this backend's group.
        """
        return slice_owners(num_slices, self.world_size)[j]

    def synchronize(self, network) -> None:
        """Copy the parameters and buffers of each slice's modules from the slice's owner to every rank.

        Training updates slice ``j``'s modules only on their owner (the only rank that
        computes their gradients); call this before saving or evaluating the network on one
        rank. ``network`` says which modules slice ``j`` has (``slice_modules(j)`` for
        ``j < num_subnetworks``); for a :class:`~parareal_toolkit.nn.PararealNetwork` these are
        ``C^j`` and ``g^j``. Its shared modules (coarse networks, ``h``) are replicated and
        already equal everywhere.

        Returns
        -------
        None
        """
        n = network.num_subnetworks
        with torch.no_grad():
            for j in range(n):
                owner = self.owner(j, n)
                for module in network.slice_modules(j):
                    for tensor in [*module.parameters(), *module.buffers()]:
                        buffer = self.broadcast(tensor.data.to(self.device), owner)
                        if buffer.data_ptr() != tensor.data.data_ptr():
                            tensor.data.copy_(buffer)

    def __repr__(self) -> str:
        return f"DistributedBackend(rank={self.rank}, world_size={self.world_size})"
