"""The placement registry: one strategy per ``--placement`` choice, and backends that know no network parts.

The strategies' effects on training (the same weights as one process) are checked by
``test_training_slices.py``; here: that the registry is the single source of the choices,
that each option belongs to one placement, and that a network tells the backends which
modules form each slice.
"""

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from parareal_toolkit import _names
from parareal_toolkit.backends.devices import DevicesBackend
from parareal_toolkit.nn import PararealNetwork
from parareal_toolkit.training import TrainConfig
from parareal_toolkit.training.placement import PLACEMENTS, Placement, SlicePlacement

BACKENDS_DIR = Path(__file__).resolve().parents[1] / "parareal_toolkit" / "backends"


def test_the_placement_choices_are_the_registry():
    assert tuple(PLACEMENTS) == _names.PLACEMENT_NAMES
    for name, strategy in PLACEMENTS.items():
        assert isinstance(strategy, Placement) and strategy.name == name


def test_each_option_belongs_to_one_placement_and_is_a_config_field():
    owners = {s.option: s.name for s in PLACEMENTS.values() if s.option is not None}
    assert owners == {"devices": "devices", "slice_groups": "distributed"}
    assert set(owners) <= set(TrainConfig.__dataclass_fields__)
    # only the placement that splits nothing replicates the whole network (DDP, SyncBatchNorm)
    assert [s.name for s in PLACEMENTS.values() if s.replicates_network] == ["single"]
    assert [s.name for s in PLACEMENTS.values() if not s.splits_network] == ["single"]


@pytest.mark.parametrize("option, value", [("devices", ["cpu"]), ("slice_groups", 2)])
def test_an_option_with_another_placement_names_its_owner(option, value):
    owner = next(s.name for s in PLACEMENTS.values() if s.option == option)
    others = [name for name in PLACEMENTS if name != owner]
    for placement in others:
        with pytest.raises(
            ValueError, match=f"`{option}` .* needs placement='{owner}'; got .* placement='{placement}'"
        ):
            TrainConfig(model="parareal-resnet", placement=placement, **{option: value})
    assert getattr(TrainConfig(model="parareal-resnet", placement=owner, **{option: value}), option) == value


def test_a_placed_run_refuses_an_unknown_placement_name():
    with pytest.raises(ValueError, match="`name` must be one of"):
        SlicePlacement("gpus", torch.device("cpu"))


def small_network(n=3):
    return PararealNetwork(
        [nn.Linear(2, 2) for _ in range(n)],
        [nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)) for _ in range(n)],
        [nn.Linear(2, 2) for _ in range(n - 1)],
        nn.Linear(2, 1),
    )


def test_slice_and_shared_modules_hold_every_parameter_and_buffer_once():
    network = small_network()
    modules = [m for j in range(network.num_subnetworks) for m in network.slice_modules(j)]
    modules += network.shared_modules()
    held = [id(t) for m in modules for t in [*m.parameters(), *m.buffers()]]
    assert sorted(held) == sorted(id(t) for t in [*network.parameters(), *network.buffers()])
    assert network.slice_modules(1) == [network.preprocess[1], network.subnetworks[1]]


def test_devices_backend_places_what_the_network_calls_slice_j():
    network = small_network()
    DevicesBackend(["cpu", "meta"]).place(network)
    placed = [{t.device.type for m in network.slice_modules(j) for t in m.parameters()} for j in range(3)]
    assert placed == [{"cpu"}, {"meta"}, {"cpu"}]
    assert {t.device.type for m in network.shared_modules() for t in m.parameters()} == {"cpu"}


def test_backends_name_no_part_of_a_parareal_network():
    """Backends know modules, slice numbers, tensors and ranks; the network says which modules form a slice."""
    parts = {"preprocess", "subnetworks", "coarse", "postprocess"}
    for path in sorted(BACKENDS_DIR.glob("*.py")):
        named = {node.attr for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)}
        assert not named & parts, f"{path.name} reaches into a network's {sorted(named & parts)}"
