"""The package's shape: public names resolve to what the docs say, layers import downward only,
one validation module with one set of accepted types, CLI choices equal the library's registries."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import parareal_toolkit

PACKAGE = Path(parareal_toolkit.__file__).resolve().parent

# every public module and what it documents (the API reference is generated from the same list)
PUBLIC_MODULES = [
    "parareal_toolkit",
    "parareal_toolkit.backends",
    "parareal_toolkit.mgrit_driver",
    "parareal_toolkit.ode",
    "parareal_toolkit.nn",
    "parareal_toolkit.training",
    "parareal_toolkit.layerpipe",
    "parareal_toolkit.bench",
    "parareal_toolkit.testing.ode",
    "parareal_toolkit.testing.nn",
    "parareal_toolkit.testing.configurations",
    "parareal_toolkit.testing.proposition1",
    "parareal_toolkit.verification.configurations",
    "parareal_toolkit.verification.proposition1",
    "parareal_toolkit.plotting",
    "parareal_toolkit.results",
    "parareal_toolkit.cli",
]


def _all_submodules() -> list[str]:
    modules = pkgutil.walk_packages([str(PACKAGE)], "parareal_toolkit.")
    return sorted(m.name for m in modules if not m.name.endswith("__main__"))  # __main__ runs the CLI


_CHECK_NAMES = """
import importlib, inspect, json, sys
modules, first = json.loads(sys.argv[1]), sys.argv[2]
everything = json.loads(sys.argv[3])
if first == "submodules":   # the order that used to break: `import pkg.name` rebinds pkg.name
    for name in everything:
        importlib.import_module(name)
bad = []
for module_name in modules:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            bad.append(f"{module_name}.{name} is a module")
if first == "names":
    for name in everything:
        importlib.import_module(name)
    for module_name in modules:
        module = importlib.import_module(module_name)
        bad += [f"{module_name}.{n} became a module" for n in module.__all__ if inspect.ismodule(getattr(module, n))]
print(json.dumps(bad))
"""


@pytest.mark.parametrize("first", ["submodules", "names"])
def test_every_public_name_resolves_to_its_object_in_any_import_order(first):
    # a fresh interpreter per order: the import order is the point
    done = subprocess.run(
        [sys.executable, "-c", _CHECK_NAMES, json.dumps(PUBLIC_MODULES), first, json.dumps(_all_submodules())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_names_that_used_to_be_shadowed_are_functions():
    import parareal_toolkit.driver
    import parareal_toolkit.layerpipe.comparison
    import parareal_toolkit.nn.parareal_resnets
    from parareal_toolkit import parareal
    from parareal_toolkit.layerpipe import compare
    from parareal_toolkit.nn import parareal_resnet

    assert parareal is parareal_toolkit.driver.parareal and callable(parareal)
    assert parareal_resnet is parareal_toolkit.nn.parareal_resnets.parareal_resnet
    assert compare is parareal_toolkit.layerpipe.comparison.compare


def test_no_module_shares_its_name_with_a_function_it_defines():
    for name in _all_submodules():
        module = importlib.import_module(name)
        short = name.rsplit(".", 1)[1]
        assert not callable(getattr(module, short, None)), f"{name} defines {short}()"


# --- layers -------------------------------------------------------------------------------

# propagator -> backends -> driver -> ode/nn -> bench, training, plotting, verification, testing, layerpipe -> cli
LAYER = {
    "_validation": 0,
    "_checked": 0,  # checks of what user callables return (imports errors and norms only)
    "_names": 0,
    "errors": 0,
    "_io": 0,
    "_resources": 0,
    "propagator": 0,
    "results": 0,
    "backends": 1,
    "norms": 0,
    "parareal_result": 0,
    "_iteration": 2,
    "driver": 2,
    "mgrit_result": 0,
    "_mgrit_cycles": 2,
    "_mgrit_levels": 1,  # MGRIT's levels as one propagator (imports propagator only)
    "mgrit_driver": 2,
    "__init__": 2,  # the top-level API re-exports the driver
    "ode": 3,
    "nn": 3,
    "plans": 3,  # the torch-free Parareal ResNet plans beside nn (nn builds them)
    "bench": 4,
    "training": 4,
    "plotting": 4,
    "verification": 4,
    "testing": 4,
    "layerpipe": 4,
    "cli": 5,
}


def _imports(path: Path, module: str) -> list[str]:
    """Absolute names of the parareal_toolkit modules that ``path`` imports (top level or in functions)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("parareal_toolkit"):
                found.append(target)
                # `from parareal_toolkit import ode` imports the subpackage `ode`
                found += [f"{target}.{a.name}" for a in node.names if target == "parareal_toolkit"]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("parareal_toolkit")]
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return LAYER["__init__"]
    return LAYER[parts[1]]


def test_layers_import_downward_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        for target in _imports(path, module):
            if target == "parareal_toolkit" and module != "parareal_toolkit":
                continue  # the top-level API is driver-level: checked through its own imports
            if _layer(target) > _layer(module):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_plotting_does_not_import_ode():
    assert not [t for t in _imports(PACKAGE / "plotting.py", "parareal_toolkit.plotting") if ".ode" in t]


# --- one validation module -------------------------------------------------------------


def test_numpy_integers_are_integers_everywhere():
    from parareal_toolkit import TimeGrid
    from parareal_toolkit.nn import balanced_sizes, parareal_resnet_plan
    from parareal_toolkit.ode import heat_1d, speedup

    assert balanced_sizes(np.int64(7), np.int32(3)) == balanced_sizes(7, 3) == (3, 2, 2)
    plan = parareal_resnet_plan(20, num_subnetworks=np.int64(3))
    assert plan == parareal_resnet_plan(20, num_subnetworks=3)
    assert TimeGrid.uniform(np.float32(1.0), np.int16(4)).num_slices == 4
    assert heat_1d(np.int64(5)).ode.size == 5
    assert speedup(np.float64(0.1), np.int64(8), np.int8(2)) == speedup(0.1, 8, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).balanced_sizes(True, 3),
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).parareal_resnet_plan(20, num_subnetworks=True),
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(5.0),
        lambda: __import__("parareal_toolkit", fromlist=["x"]).TimeGrid.uniform(1.0, 2.0),
    ],
)
def test_bools_and_floats_are_not_counts(call):
    with pytest.raises(TypeError, match="must be an integer"):
        call()


def test_validation_messages_name_the_argument_and_echo_the_value():
    from parareal_toolkit._validation import check_choice, check_int, check_ints, check_real

    with pytest.raises(ValueError, match=r"^`n` must be at least 2; got 1\.$"):
        check_int(1, "n", minimum=2)
    with pytest.raises(ValueError, match=r"^`sizes\[1\]` must be at least 1; got 0\.$"):
        check_ints([1, 0], "sizes", minimum=1)
    with pytest.raises(ValueError, match=r"^`tol` must be positive and finite; got nan\.$"):
        check_real(float("nan"), "tol", minimum=0, strict=True)
    with pytest.raises(ValueError, match=r"^`kind` must be one of \('a', 'b'\); got 'c'\.$"):
        check_choice("c", "kind", ("a", "b"))
    assert check_real(np.float32(0.5), "x") == 0.5 and type(check_int(np.int64(3), "k")) is int


# --- the CLI offers exactly the library's names -----------------------------------------


def test_cli_choices_are_the_library_registries():
    from parareal_toolkit import BACKENDS, FORMS, _names
    from parareal_toolkit.layerpipe import ASYNCHRONOUS, NETWORKS, SCHEDULES, SYNCHRONOUS
    from parareal_toolkit.ode import NONLINEAR_PROBLEMS, PROBLEMS
    from parareal_toolkit.testing.proposition1 import CASES
    from parareal_toolkit.training import DATASETS

    assert FORMS == _names.FORMS
    assert tuple(BACKENDS) == _names.BACKEND_NAMES
    assert tuple(PROBLEMS) == _names.LINEAR_PROBLEM_NAMES
    assert tuple(NONLINEAR_PROBLEMS) == _names.NONLINEAR_PROBLEM_NAMES
    assert _names.PROBLEM_NAMES == _names.LINEAR_PROBLEM_NAMES + _names.NONLINEAR_PROBLEM_NAMES
    assert tuple(c.name for c in CASES) == _names.VERIFY_CASES
    # an image folder's spec comes from its files (image_folder_spec), so it has no registry entry
    assert (*DATASETS, "imagefolder") == _names.DATASET_NAMES
    assert NETWORKS == _names.NETWORK_NAMES
    assert (SYNCHRONOUS, ASYNCHRONOUS, SCHEDULES) == (
        _names.SYNCHRONOUS_SCHEDULES,
        _names.ASYNCHRONOUS_SCHEDULES,
        _names.SCHEDULE_NAMES,
    )


def test_the_driver_has_one_update_per_form():
    from parareal_toolkit import FORMS, _names
    from parareal_toolkit._iteration import FORM_UPDATES

    assert tuple(FORM_UPDATES) == _names.FORMS
    assert FORMS is _names.FORMS  # what users see: the tuple of names


def test_every_command_lives_in_a_module_named_after_it():
    from parareal_toolkit.cli import COMMANDS, build_parser

    for name, module_name in COMMANDS.items():
        assert module_name == f"parareal_toolkit.cli.{name.replace('-', '_')}"
        module = importlib.import_module(module_name)
        assert isinstance(module.HELP, str) and callable(module.add_arguments) and callable(module.run)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


def test_no_import_circle_anywhere_in_the_package():
    """Strongly connected components of the import graph, function-level imports included."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        modules[".".join(relative.parts).removesuffix(".__init__")] = path
    edges = {m: {t for t in _imports(p, m) if t in modules and t != m} for m, p in modules.items()}
    # a submodule imported as a name (`from .x import y` where y is a module) counts too
    for m, p in modules.items():
        edges[m] |= {f"{t}.{n}" for t in list(edges[m]) for n in _imported_names(p) if f"{t}.{n}" in modules}

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in modules:
        if v not in index:
            visit(v)
    assert circles == []


def _imported_names(path: Path) -> set[str]:
    return {
        a.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom) for a in node.names
    }


def test_no_module_exceeds_600_lines_and_no_private_function_takes_more_than_8_parameters():
    long_modules, wide = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 600:
            long_modules.append(str(path.relative_to(PACKAGE)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("_"):
                if node.name.startswith("__") and node.name.endswith("__"):
                    continue
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                count = len(names) - (names[:1] in (["self"], ["cls"])) + (a.vararg is not None) + (a.kwarg is not None)
                if count > 8:
                    wide.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert long_modules == [] and wide == []
