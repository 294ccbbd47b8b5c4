"""The torch-free plan package: the split registry, plans that build, the one ResNet memory model."""

import subprocess
import sys

import pytest
import torch

from parareal_toolkit import _names
from parareal_toolkit.nn import parareal_resnet, parareal_resnet_from, parareal_resnet_plan, preact_resnet
from parareal_toolkit.plans import SPLITS, Split, stage_unit_specs, trunk_memory

_IMPORT_WITHOUT_TORCH = """
import importlib, pkgutil, sys
import parareal_toolkit.plans as plans
for module in pkgutil.iter_modules(plans.__path__, "parareal_toolkit.plans."):
    importlib.import_module(module.name)
plans.parareal_resnet_table(1001, (3, 18), split="cost")
print(sorted(m for m in ("torch", "parareal_toolkit.nn") if m in sys.modules))
"""


def test_the_plan_package_imports_neither_torch_nor_nn():
    done = subprocess.run([sys.executable, "-c", _IMPORT_WITHOUT_TORCH], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_parareal_models_counts_without_torch():
    code = "import sys; from parareal_toolkit.cli import main; main(['models', '-N', '3', '--split', 'cost']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "units split by multiply-adds" in done.stdout and done.stdout.splitlines()[-1] == "False"


def test_the_split_registry_holds_exactly_the_names_users_choose_from():
    assert tuple(SPLITS) == _names.SPLIT_NAMES
    assert all(isinstance(split, Split) and split.name == name for name, split in SPLITS.items())


@pytest.mark.parametrize("name", _names.SPLIT_NAMES)
def test_each_split_owns_its_bound(name):
    plan = parareal_resnet_plan(1001, num_subnetworks=18, split=name)
    expected = {"units": plan.unit_count_bound, "cost": plan.cost_bound}[name]
    assert plan.bound == SPLITS[name].bound(plan) == expected
    assert SPLITS[name].bound_description.startswith(f"{SPLITS[name].bound_label} bound")


def test_a_virtual_objective_plan_builds_a_network_with_its_unit_counts():
    # a dear last stage: the min-max split isolates it, the virtual one spreads the front
    costs = dict(zip([s for pair in stage_unit_specs(20) for s in pair], [1.0, 1.0, 1.0, 1.0, 1.0, 9.0]))
    options = {"num_subnetworks": 3, "split": "cost", "unit_costs": costs, "coarse_units": 2}
    virtual = parareal_resnet_plan(20, objective="virtual", **options)
    assert virtual.units_per_subnetwork != parareal_resnet_plan(20, **options).units_per_subnetwork
    for network in (
        parareal_resnet(20, objective="virtual", **options),
        parareal_resnet_from(preact_resnet(20), objective="virtual", **options),
    ):
        assert network.plan == virtual
        assert [len(g) for g in network.subnetworks] == virtual.units_per_subnetwork


@pytest.mark.parametrize("depth", [11, 20, 29])
def test_the_memory_model_counts_the_built_units(depth):
    memory = trunk_memory(depth)
    model = preact_resnet(depth)
    assert memory.units == len(model.units)
    assert memory.parameters == sum(p.numel() for unit in model.units for p in unit.parameters())
    outputs = []
    for unit in model.units:
        unit.register_forward_hook(lambda module, args, out: outputs.append(out.numel()))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    assert memory.outputs_per_image == sum(outputs) < memory.saved_per_image


def test_both_memory_checks_read_the_one_model():
    from parareal_toolkit.bench.table import _memory_needed
    from parareal_toolkit.training.resources import training_memory_lower_bound

    memory = trunk_memory(1001)
    bound = training_memory_lower_bound(1001, images_per_batch=128)
    assert bound["state"] == 3 * 4 * memory.parameters
    assert bound["activations"] == 4 * 128 * memory.outputs_per_image
    _, _, activations = _memory_needed(1001, [1, 3], batch_size=128)
    assert activations == 4 * 128 * (memory.saved_per_image + 3 * 32 * 32)
