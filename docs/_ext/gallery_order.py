"""The order of the gallery: the order a course would teach it, not the alphabet."""

from __future__ import annotations

from pathlib import Path

TEACHING_ORDER = (
    # parareal for u' = Au
    "plot_dahlquist_by_hand.py",
    "plot_heat_convergence.py",
    "plot_coarse_substeps.py",
    "plot_convergence_factor.py",
    "plot_advection.py",
    "plot_mgrit_heat.py",
    "plot_erratum.py",
    "plot_speedup.py",
    # parareal networks
    "plot_proposition1.py",
    "plot_parareal_resnet.py",
    # pipelines
    "plot_layerpipe_gantt.py",
)


class TeachingOrder:
    """sphinx-gallery ``within_subsection_order``: listed files first, others alphabetically."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename: str):
        name = Path(filename).name
        if name in TEACHING_ORDER:
            return (0, TEACHING_ORDER.index(name), name)
        return (1, 0, name)

    def __repr__(self) -> str:  # sphinx-gallery caches the configuration by its repr
        return f"<{type(self).__name__}>"
