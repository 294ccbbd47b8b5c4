"""Converting a sequential network into a parareal network.

``to_parareal(model, N)`` reads ``model`` as ``C, b_1, ..., b_B, h``: the first
``preprocess_layers`` children are the preprocessing ``C``, the last ``postprocess_layers``
the postprocessing ``h``, and the ``B`` children in between the repeated blocks. The blocks
are cut into ``N`` contiguous subnetworks; default preprocessing and coarse networks are built
by factories that can be replaced.

Exact facts: with ``num_subnetworks=1`` the result computes ``h(b_B(...b_1(C(x))))`` with the
same modules in the same order, so its output equals ``model``'s bit for bit. With
``coarse_factory=exact_coarse`` and bias-free linear blocks, Proposition 1 makes the output
equal to ``model``'s for any ``N`` and any preprocessing (see ``parareal_toolkit.nn.network``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from torch import nn

from .._resources import require_memory
from .._validation import check_int, check_ints
from ..errors import InputError, InputTypeError
from .network import PararealNetwork

__all__ = [
    "to_parareal",
    "balanced_sizes",
    "split_blocks",
    "exact_coarse",
    "first_block_coarse",
    "copy_preprocess",
]

CoarseFactory = Callable[[int, nn.Sequential], nn.Module]
PreprocessFactory = Callable[[int, nn.Module, nn.Sequential], nn.Module]


def balanced_sizes(num_blocks: int, num_subnetworks: int) -> tuple[int, ...]:
    """Sizes of ``num_subnetworks`` contiguous groups of ``num_blocks`` blocks, differing by at most one.

    The larger groups come first. Unlike the seed paper's ``ceil(B/N)`` per group, no group
    is ever empty.

    Parameters
    ----------
    num_blocks : int
        ``B >= 1``.
    num_subnetworks : int
        ``N``, between 1 and ``B``.

    Returns
    -------
    tuple of int
        ``N`` positive sizes adding up to ``B``, non-increasing, differing by at most one.

    Examples
    --------
    >>> from parareal_toolkit.nn import balanced_sizes
    >>> balanced_sizes(7, 3)
    (3, 2, 2)
    >>> balanced_sizes(10, 4)  # the seed paper's ceil(10/4) = 3 would leave (3, 3, 3, 1)
    (3, 3, 2, 2)
    """
    num_blocks = check_int(num_blocks, "num_blocks", minimum=1)
    num_subnetworks = check_int(num_subnetworks, "num_subnetworks", minimum=1)
    if num_subnetworks > num_blocks:
        raise InputError(
            f"`num_subnetworks` must be at most {num_blocks} (the number of blocks); got {num_subnetworks}."
        )
    require_memory(64.0 * num_subnetworks, f"balanced_sizes(num_subnetworks={num_subnetworks})")  # a tuple of ints
    q, r = divmod(num_blocks, num_subnetworks)
    return tuple(q + 1 if i < r else q for i in range(num_subnetworks))


def split_blocks(blocks: Sequence[nn.Module], sizes: Sequence[int]) -> list[nn.Sequential]:
    """Cut ``blocks`` into contiguous ``nn.Sequential`` groups of the given positive ``sizes``.

    Parameters
    ----------
    blocks : sequence of nn.Module
        The blocks, in order.
    sizes : sequence of int
        Positive group sizes adding up to ``len(blocks)``.

    Returns
    -------
    list of torch.nn.Sequential
        One group per size, holding the blocks themselves (not copies).
    """
    blocks = list(blocks)
    sizes = tuple(check_ints(sizes, "sizes", minimum=1))
    if sum(sizes) != len(blocks):
        raise InputError(
            f"`sizes` must add up to the number of blocks, {len(blocks)}; got {sizes!r} (sum {sum(sizes)})."
        )
    groups, start = [], 0
    for size in sizes:
        groups.append(nn.Sequential(*blocks[start : start + size]))
        start += size
    return groups


def exact_coarse(j: int, target: nn.Sequential) -> nn.Module:
    """``F^j = g^{j+1}`` (a deep copy): the hypothesis of Proposition 1; as costly as ``g^{j+1}``.

    A ``coarse_factory`` for :func:`to_parareal`.

    Parameters
    ----------
    j : int
        The coarse network's index, ``1..N-1`` (unused).
    target : nn.Sequential
        ``g^{j+1}``.

    Returns
    -------
    torch.nn.Module
        A deep copy of ``target``.
    """
    return copy.deepcopy(target)


def first_block_coarse(j: int, target: nn.Sequential) -> nn.Module:
    """``F^j`` = a deep copy of the first block of ``g^{j+1}`` (the default coarse network).

    Cheap (one block instead of ``len(g^{j+1})``), and shaped right whenever the blocks map a
    state to a state of the same shape, as in a block-repetitive network. Blocks that change
    the shape need a ``coarse_factory`` of their own.

    Parameters
    ----------
    j : int
        The coarse network's index, ``1..N-1`` (unused).
    target : nn.Sequential
        ``g^{j+1}``.

    Returns
    -------
    torch.nn.Module
        A deep copy of ``target[0]``.
    """
    return copy.deepcopy(target[0])


def copy_preprocess(j: int, preprocess: nn.Module, subnetwork: nn.Sequential) -> nn.Module:
    """``C^j`` = a deep copy of ``C`` (the default): right when the blocks preserve the state shape.

    A ``preprocess_factory`` for :func:`to_parareal`.

    Parameters
    ----------
    j : int
        The preprocessing's index, ``2..N`` (unused).
    preprocess : nn.Module
        ``C``.
    subnetwork : nn.Sequential
        ``g^j``, whose input ``C^j`` guesses (unused).

    Returns
    -------
    torch.nn.Module
        A deep copy of ``preprocess``.
    """
    return copy.deepcopy(preprocess)


def to_parareal(
    model: nn.Sequential,
    num_subnetworks: int,
    *,
    preprocess_layers: int = 1,
    postprocess_layers: int = 1,
    sizes: Sequence[int] | None = None,
    coarse_factory: CoarseFactory | None = None,
    preprocess_factory: PreprocessFactory | None = None,
    iterations: int = 1,
    form: str = "correction",
    copy_model: bool = True,
) -> PararealNetwork:
    """Split a sequential network into ``num_subnetworks`` parallel subnetworks.

    Parameters
    ----------
    model : nn.Sequential
        ``C, b_1, ..., b_B, h`` (see the module docstring).
    num_subnetworks : int
        ``N``, between 1 and ``B``.
    preprocess_layers, postprocess_layers : int, keyword-only
        How many leading / trailing children form ``C`` / ``h`` (default 1 each; 0 means the
        identity).
    sizes : sequence of int, keyword-only
        Blocks per subnetwork (``N`` positive integers adding up to ``B``). Default:
        :func:`balanced_sizes`.
    coarse_factory : callable, keyword-only
        ``coarse_factory(j, g_next) -> nn.Module`` builds ``F^j`` (``j = 1..N-1``) from the
        subnetwork ``g_next = g^{j+1}`` it approximates. Default :func:`first_block_coarse`;
        :func:`exact_coarse` gives Proposition 1's ``F^j = g^{j+1}``.
    preprocess_factory : callable, keyword-only
        ``preprocess_factory(j, C, g_j) -> nn.Module`` builds ``C^j`` (``j = 2..N``), which maps
        the input to a guess of ``g_j = g^j``'s input. Default :func:`copy_preprocess`.
    iterations, form : keyword-only
        Passed to :class:`PararealNetwork`.
    copy_model : bool, keyword-only
        Deep-copy ``model`` first (default), so the result shares no parameters with it.
        With ``False`` the result uses ``model``'s own modules.

    Returns
    -------
    PararealNetwork
        ``f~`` with ``C^1 = C``, subnetworks ``g^1..g^N`` cut from the blocks, ``N - 1``
        coarse networks and ``h``. With ``num_subnetworks=1`` its output equals ``model``'s
        bit for bit; with :func:`exact_coarse` and bias-free linear blocks it equals
        ``model``'s up to round-off for any ``N`` (Proposition 1).

    Examples
    --------
    Proposition 1 on a bias-free linear network of six blocks cut into three subnetworks:

    >>> import torch
    >>> from parareal_toolkit.nn import exact_coarse, linear_network, to_parareal
    >>> gen = torch.Generator().manual_seed(0)
    >>> model = linear_network(num_blocks=6, width=4, in_channels=3, out_features=2, generator=gen)
    >>> network = to_parareal(model, 3, coarse_factory=exact_coarse)
    >>> [len(g) for g in network.subnetworks]
    [2, 2, 2]
    >>> x = torch.randn(8, 3, dtype=torch.float64, generator=gen)
    >>> (network(x) - model(x)).abs().max().item() < 1e-14
    True
    """
    if not isinstance(model, nn.Sequential):
        raise InputTypeError(f"`model` must be an nn.Sequential; got {type(model).__name__}.")
    num_subnetworks = check_int(num_subnetworks, "num_subnetworks", minimum=1)
    preprocess_layers = check_int(preprocess_layers, "preprocess_layers", minimum=0)
    postprocess_layers = check_int(postprocess_layers, "postprocess_layers", minimum=0)
    for name, factory in (("coarse_factory", coarse_factory), ("preprocess_factory", preprocess_factory)):
        if factory is not None and not callable(factory):
            raise InputTypeError(f"`{name}` must be callable; got {factory!r}.")
    num_blocks = len(model) - preprocess_layers - postprocess_layers
    if num_blocks < 1:
        raise InputError(
            f"`model` has {len(model)} children, so preprocess_layers={preprocess_layers} and "
            f"postprocess_layers={postprocess_layers} leave no block to split; at least one is needed."
        )
    if num_subnetworks > num_blocks:
        raise InputError(
            f"`num_subnetworks` must be at most {num_blocks} (the number of blocks); got {num_subnetworks}."
        )
    if sizes is None:
        sizes = balanced_sizes(num_blocks, num_subnetworks)
    else:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise InputTypeError(f"`sizes` must be a sequence of integers; got {sizes!r}.")
        if len(sizes) != num_subnetworks:
            raise InputError(f"`sizes` must hold num_subnetworks = {num_subnetworks} entries; got {tuple(sizes)!r}.")
    if copy_model:
        model = copy.deepcopy(model)
    children = list(model)
    preprocess = model[:preprocess_layers]
    postprocess = model[len(children) - postprocess_layers :]
    subnetworks = split_blocks(children[preprocess_layers : len(children) - postprocess_layers], sizes)

    coarse_factory = first_block_coarse if coarse_factory is None else coarse_factory
    preprocess_factory = copy_preprocess if preprocess_factory is None else preprocess_factory
    coarse = []
    for j in range(1, num_subnetworks):
        module = coarse_factory(j, subnetworks[j])
        if not isinstance(module, nn.Module):
            raise InputTypeError(f"`coarse_factory` must return an nn.Module; got {type(module).__name__} for j={j}.")
        coarse.append(module)
    guesses = []
    for j in range(2, num_subnetworks + 1):
        module = preprocess_factory(j, preprocess, subnetworks[j - 1])
        if not isinstance(module, nn.Module):
            raise InputTypeError(
                f"`preprocess_factory` must return an nn.Module; got {type(module).__name__} for j={j}."
            )
        guesses.append(module)
    return PararealNetwork([preprocess, *guesses], subnetworks, coarse, postprocess, iterations=iterations, form=form)
