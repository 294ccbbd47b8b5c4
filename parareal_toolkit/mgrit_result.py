"""What an MGRIT run returns: parareal's result, with the hierarchy, the residuals and the fine solution.

:class:`MGRITResult` is a :class:`~parareal_toolkit.PararealResult` (the same fields mean the
same, measured by the same recorder) whose states are the iterates at the level-0 C-points
``T_0..T_{N_1}``, exactly what parareal's states are, plus what only MGRIT has: the number of
levels, the coarsening factor, the relaxation and the cycle, the FAS residual of every
iterate, the propagator calls per level and the whole fine-level solution after the final
F-relaxation. :class:`MGRITIterationInfo` is what the per-iteration callback sees. The
numerical facts are stated in the module docstring of ``parareal_toolkit.mgrit_driver``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .parareal_result import IterationInfo, PararealResult, _stack

__all__ = ["MGRITResult", "MGRITIterationInfo"]


@dataclass(frozen=True)
class MGRITIterationInfo(IterationInfo):
    """What MGRIT's callback receives after iteration ``k``: :class:`~parareal_toolkit.IterationInfo` and the residual.

    ``states`` are the C-point values ``U^k_0..U^k_{N_1}``; ``fine_evaluations`` counts calls
    of ``levels[0]`` (one fine step each) and ``coarse_evaluations`` calls of all coarser
    levels together.

    Attributes
    ----------
    residual : float or None
        ``max_c norm(r_c)``, the FAS residual ``r_c = Φ_0(u_{cm-1}) - u_{cm}`` of this
        iterate at the level-0 C-points ``c = 1..N_1`` after its F-relaxation; None with
        ``monitor=False``.
    """

    residual: float | None = None


@dataclass
class MGRITResult(PararealResult):
    """The outcome of :func:`~parareal_toolkit.mgrit`: the iterates at the level-0 C-points, and the fine solution.

    With F-relaxation, after ``K`` iterations ``states[0..K]`` equal the sequential fine
    solution (``2K`` with FCF-relaxation), so ``stop_reason`` is ``"exact"`` once ``K``
    reaches ``N_1`` (``ceil(N_1 / 2)`` with FCF). Every field of
    :class:`~parareal_toolkit.PararealResult` means what it means there, with ``N = N_1``
    (``num_slices``), ``form="mgrit"``, ``fine_evaluations`` the calls of ``levels[0]`` (one
    fine step each, not ``m`` of them) and ``coarse_evaluations`` the calls of all coarser
    levels; ``initial`` is ``"coarse"``, ``"nested"``, ``"u0"`` or ``"given"``.

    Attributes
    ----------
    num_levels : int
        ``L``, the number of levels.
    coarsening : int
        ``m``, the coarsening factor between neighbouring levels.
    relax, cycle : str
        The relaxation (``"F"`` or ``"FCF"``) and the cycle (``"V"`` or ``"F"``).
    residuals : list of float
        ``max_c norm(r_c)`` over the level-0 C-points ``c = 1..N_1`` for every iterate
        ``k = 0..K``, where ``r_c = Φ_0(u_{cm-1}) - u_{cm}`` after the iterate's F-relaxation
        (the FAS residual of the fine system ``A_0 u = g_0``; zero exactly at its solution).
        Empty with ``monitor=False``.
    fine_states : list
        The fine-level solution ``u_0..u_{N_0}`` (``N_0 + 1`` states) after the final
        F-relaxation: its C-points are ``states`` and its F-points follow from them by the
        fine steps.
    level_evaluations : list of int
        The propagator calls of each level, ``levels[0]`` first.
    level_slices : list of int
        ``N_l``, the slices of each level.

    Examples
    --------
    Two levels with F-relaxation are parareal with ``m`` fine steps per coarse interval:

    >>> from parareal_toolkit import mgrit
    >>> from parareal_toolkit.ode import heat_1d, time_hierarchy
    >>> problem = heat_1d(10)
    >>> levels = time_hierarchy(problem, 16, coarsening=4, num_levels=2)
    >>> result = mgrit(levels, problem.u0, coarsening=4, iterations=2)
    >>> len(result.states), len(result.fine_states), result.level_slices
    (5, 17, [16, 4])
    >>> result.fine_evaluations, result.coarse_evaluations  # 3 F-relaxations of 16 steps; 4 + 2 * 3 coarse steps
    (48, 10)
    """

    num_levels: int = 2
    coarsening: int = 2
    relax: str = "F"
    cycle: str = "V"
    residuals: list[float] = field(default_factory=list)
    fine_states: list[Any] = field(default_factory=list)
    level_evaluations: list[int] = field(default_factory=list)
    level_slices: list[int] = field(default_factory=list)

    def fine_states_array(self) -> Any:
        """The fine-level solution as one array of shape ``(N_0 + 1, *u0.shape)`` (a tensor for torch states).

        Returns
        -------
        numpy.ndarray or torch.Tensor
            ``u_0..u_{N_0}`` stacked along a new first axis.
        """
        return _stack(self.fine_states)
