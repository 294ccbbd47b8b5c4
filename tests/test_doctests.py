"""The ``Examples`` sections of the package's docstrings run and print what they show.

Every module of ``parareal_toolkit`` is imported and its doctests are run, except
``__main__`` modules (importing ``parareal_toolkit.cli.__main__`` runs the CLI). The
central names must have examples, so that deleting one fails here rather than silently
running nothing.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

import parareal_toolkit

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# the names whose docstrings must carry a runnable example (the list)
CENTRAL = (
    "parareal_toolkit.driver.parareal",
    "parareal_toolkit.mgrit_driver.mgrit",
    "parareal_toolkit.mgrit_result.MGRITResult",
    "parareal_toolkit.ode.hierarchy.time_hierarchy",
    "parareal_toolkit.parareal_result.PararealResult",
    "parareal_toolkit.propagator.TimeGrid",
    "parareal_toolkit.propagator.propagate_sequentially",
    "parareal_toolkit.ode.exact.ExactPropagator",
    "parareal_toolkit.ode.implicit_euler.ImplicitEulerPropagator",
    "parareal_toolkit.ode.linear.LinearODE",
    "parareal_toolkit.ode.problems.heat_1d",
    "parareal_toolkit.ode.theory.error_bounds",
    "parareal_toolkit.ode.theory.speedup",
    "parareal_toolkit.nn.propagators.ModulePropagator",
    "parareal_toolkit.nn.network.PararealNetwork",
    "parareal_toolkit.nn.conversion.to_parareal",
    "parareal_toolkit.nn.conversion.balanced_sizes",
    "parareal_toolkit.nn.parareal_resnets.parareal_resnet",
    "parareal_toolkit.nn.resnet.preact_resnet",
    "parareal_toolkit.nn.layer_parallel.LayerParallelResNet",
    "parareal_toolkit.verification.proposition1.verify_proposition1",
    "parareal_toolkit.testing.ode.linear_problems",
    "parareal_toolkit.testing.nn.parareal_configurations",
    "parareal_toolkit.nn.linear.linear_network",
    "parareal_toolkit.ode.problems.dahlquist",
    "parareal_toolkit.ode.theory.convergence_factor",
    "parareal_toolkit.ode.theory.heat_contraction_factor",
    "parareal_toolkit.layerpipe.comparison.compare",
    "parareal_toolkit.layerpipe.comparison.evaluate",
    "parareal_toolkit.layerpipe.engine.simulate",
    "parareal_toolkit.training.config.TrainConfig",
)


def _module_names() -> list[str]:
    names = [parareal_toolkit.__name__]
    for info in pkgutil.walk_packages(parareal_toolkit.__path__, prefix=f"{parareal_toolkit.__name__}."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _tests_of(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    return [test for test in doctest.DocTestFinder().find(module) if test.examples]


@pytest.mark.parametrize("module_name", MODULES)
@pytest.mark.usefixtures("single_torch_thread")  # tiny tensors: a second, contended thread only slows them
def test_module_imports_and_its_doctests_pass(module_name):
    tests = _tests_of(module_name)  # a module without examples is still imported
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    failures = []
    for test in tests:
        result = runner.run(test, out=failures.append)
        assert result.attempted == len(test.examples)
    assert not failures, "".join(failures)


def test_central_names_have_examples():
    examples = {}
    for module_name in {name.rsplit(".", 1)[0] for name in CENTRAL}:
        for test in _tests_of(module_name):
            examples[test.name] = len(test.examples)
    missing = [name for name in CENTRAL if examples.get(name, 0) == 0]
    assert not missing, f"no runnable example in the docstring of: {missing}"


def test_the_module_list_covers_the_package():
    # a walk that silently found nothing would make the doctest test vacuous
    assert "parareal_toolkit.driver" in MODULES
    assert "parareal_toolkit.nn.network" in MODULES
    assert not any(name.endswith("__main__") for name in MODULES)
