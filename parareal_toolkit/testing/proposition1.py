"""Proposition 1 checked on random configurations, importable here as before.

It lives in :mod:`parareal_toolkit.verification.proposition1`, what ``parareal verify``
runs; these are the same objects.
"""

from ..verification.proposition1 import (
    CASES,
    CaseResult,
    ExampleResult,
    VerificationCase,
    sample_spec,
    verify_proposition1,
)

__all__ = ["VerificationCase", "CaseResult", "ExampleResult", "CASES", "sample_spec", "verify_proposition1"]
