"""Shared test configuration: hypothesis profiles.

``ci`` (the default, and what CI uses): derandomized, no deadline, so every run checks the
same examples and slow machines do not flake. ``dev``: more examples, random seeds, for
local runs: ``HYPOTHESIS_PROFILE=dev pytest``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=30,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=300, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
