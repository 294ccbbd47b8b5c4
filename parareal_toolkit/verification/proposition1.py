"""Checking Proposition 1 on random configurations: where it holds and how badly it fails.

:func:`verify_proposition1` draws ``examples`` random configurations per case from one seed
(:class:`random.Random` picks the structure, the spec's seed the weights) and measures
``max |f~(x) - f(x)|`` and its size relative to ``max(max |f(x)|, max |f~(x)|)``; an example *holds* when the
relative gap is at most ``rtol`` (default 1e-10, float64). The cases:

``linear``
    bias-free linear blocks, ``F^j = g^{j+1}``, any preprocessing: Proposition 1, must hold.
``linear+bias``
    the same with biases: each bias is counted twice, expected to fail (``N >= 2``).
``relu``
    ReLU blocks, ``F^j = g^{j+1}``, imperfect guesses: expected to fail (``N >= 2``).
``batchnorm``
    linear blocks followed by BatchNorm in evaluation mode, so the coarse copies
    ``F^j = g^{j+1}`` contain BatchNorm and ``F^j(0) != 0``: expected to fail (``N >= 2``).

This is what ``parareal verify`` runs; the property tests prove the same statements with
hypothesis.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .._validation import check_callable, check_int, check_real
from ..errors import InputError
from ..nn.linear import KINDS
from .configurations import PREPROCESSINGS, ConfigurationSpec

__all__ = ["VerificationCase", "CaseResult", "ExampleResult", "CASES", "sample_spec", "verify_proposition1"]


@dataclass(frozen=True)
class VerificationCase:
    """A family of configurations and whether Proposition 1 is expected to hold on it."""

    name: str
    description: str
    expected_to_hold: bool
    block: str = "linear"
    bias: bool = False
    batchnorm: bool = False
    preprocessings: tuple[str, ...] = PREPROCESSINGS
    min_subnetworks: int = 1


CASES: tuple[VerificationCase, ...] = (
    VerificationCase("linear", "bias-free linear blocks, F^j = g^{j+1}", True),
    VerificationCase("linear+bias", "linear blocks with biases, F^j = g^{j+1}", False, bias=True, min_subnetworks=2),
    VerificationCase(
        "relu",
        "ReLU blocks, F^j = g^{j+1}, imperfect C^j",
        False,
        block="relu",
        preprocessings=("random", "nonlinear", "copy"),
        min_subnetworks=2,
    ),
    VerificationCase(
        "batchnorm",
        "linear + BatchNorm (eval) blocks, F^j = g^{j+1} so F(0) != 0",
        False,
        batchnorm=True,
        min_subnetworks=2,
    ),
)


@dataclass
class ExampleResult:
    """The measured gap ``max |f~ - f|`` (absolute and relative) of one configuration."""

    spec: ConfigurationSpec
    max_abs_gap: float
    relative_gap: float
    holds: bool

    def to_dict(self) -> dict:
        """The measurement as JSON-able data.

        Returns
        -------
        dict
            The spec (and its one-line description), both gaps and the verdict.
        """
        return {
            "configuration": self.spec.describe(),
            "spec": self.spec.to_dict(),
            "max_abs_gap": self.max_abs_gap,
            "relative_gap": self.relative_gap,
            "holds": self.holds,
        }


@dataclass
class CaseResult:
    """Every example of one :class:`VerificationCase` and the verdict on the case."""

    case: VerificationCase
    examples: list[ExampleResult] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """Every example holds."""
        return all(e.holds for e in self.examples)

    @property
    def violations(self) -> int:
        """Number of examples whose relative gap exceeds the tolerance."""
        return sum(not e.holds for e in self.examples)

    @property
    def as_expected(self) -> bool:
        """Holds everywhere if expected to, else at least one violation was found."""
        return self.holds if self.case.expected_to_hold else self.violations > 0

    @property
    def worst(self) -> ExampleResult:
        """The example with the largest relative gap."""
        return max(self.examples, key=lambda e: e.relative_gap)

    def to_dict(self) -> dict:
        """The case's measurements as JSON-able data (what ``parareal verify --json`` writes).

        Returns
        -------
        dict
            The case, every example, the largest gaps, the number of violations and the
            verdicts.
        """
        return {
            "case": self.case.name,
            "description": self.case.description,
            "expected_to_hold": self.case.expected_to_hold,
            "examples": [e.to_dict() for e in self.examples],
            "max_abs_gap": max(e.max_abs_gap for e in self.examples),
            "max_relative_gap": self.worst.relative_gap,
            "violations": self.violations,
            "holds": self.holds,
            "as_expected": self.as_expected,
        }


def sample_spec(case: VerificationCase, rng: random.Random) -> ConfigurationSpec:
    """One random configuration of ``case`` (at most 6 blocks, widths 1..4, float64).

    Parameters
    ----------
    case : VerificationCase
        Fixes the block type, biases, BatchNorm, the allowed preprocessings and the smallest
        ``N``.
    rng : random.Random
        Draws the structure and the weights' seed.

    Returns
    -------
    ConfigurationSpec
        With ``coarse="exact"`` and ``N`` in ``max(1, case.min_subnetworks)..4``.
    """
    n = rng.randint(max(1, case.min_subnetworks), 4)
    total = rng.randint(n, max(n, 6))
    cuts = sorted(rng.sample(range(1, total), n - 1))
    bounds = [0, *cuts, total]
    return ConfigurationSpec(
        kind=rng.choice(KINDS),
        width=rng.randint(1, 4),
        sizes=tuple(b - a for a, b in zip(bounds, bounds[1:])),
        block=case.block,
        bias=case.bias,
        batchnorm=case.batchnorm,
        preprocessing=rng.choice(case.preprocessings),
        coarse="exact",
        seed=rng.randrange(2**32),
        batch_size=rng.randint(1, 3),
        in_channels=rng.randint(1, 3),
        image_size=rng.randint(1, 3),
    )


def verify_proposition1(
    *,
    examples: int = 20,
    seed: int = 0,
    rtol: float = 1e-10,
    cases: tuple[str, ...] | None = None,
    progress: Callable[[], None] | None = None,
) -> list[CaseResult]:
    """Measure ``|f~ - f|`` on ``examples`` random configurations of each case (see the module docstring).

    Proposition 1 holds to round-off (relative gap far below ``rtol``) on the ``linear``
    case; each of the other cases is expected to show at least one violation.

    Parameters
    ----------
    examples : int, keyword-only
        Configurations per case, at least 1 (default 20).
    seed : int, keyword-only
        Seed of the draws, at least 0; each case draws independently of the others.
    rtol : float, keyword-only
        An example holds when its relative gap is at most ``rtol`` (default 1e-10).
    cases : tuple of str, keyword-only, optional
        Names from :data:`CASES` (default: all of them).
    progress : callable, keyword-only, optional
        Called with no argument after each example is measured (``parareal verify``
        advances its progress bar with it).

    Returns
    -------
    list of CaseResult
        One per case, in the order of ``cases``; ``as_expected`` is the verdict.

    Examples
    --------
    >>> from parareal_toolkit.verification.proposition1 import verify_proposition1
    >>> results = verify_proposition1(examples=2)
    >>> [(r.case.name, r.holds, r.as_expected) for r in results]
    [('linear', True, True), ('linear+bias', False, True), ('relu', False, True), ('batchnorm', False, True)]
    """
    examples = check_int(examples, "examples", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    rtol = check_real(rtol, "rtol", minimum=0, strict=True)
    if progress is not None:
        check_callable(progress, "progress")
    known = {c.name: c for c in CASES}
    names = tuple(known) if cases is None else tuple(cases)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(f"`cases` must be drawn from {tuple(known)}; got {cases!r}.")
    results = []
    for name in names:
        case = known[name]
        rng = random.Random(f"{seed}:{case.name}")  # each case's draws independent of the others
        result = CaseResult(case)
        for _ in range(examples):
            spec = sample_spec(case, rng)
            absolute, relative = spec.build().gap()
            result.examples.append(ExampleResult(spec, absolute, relative, relative <= rtol))
            if progress is not None:
                progress()
        results.append(result)
    return results
