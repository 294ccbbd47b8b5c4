"""``parareal models`` counts parameters arithmetically: equal to built networks, instant at any depth."""

import json

import pytest
import torch
from call_budget import count_calls

from parareal_toolkit import cli
from parareal_toolkit.nn import parareal_resnet_plan, preact_resnet
from parareal_toolkit.nn.parareal_resnets import (
    _preprocessing,
    parareal_resnet_table,
    stage_unit_specs,
    unit_parameters,
)
from parareal_toolkit.nn.resnet import ceil_div, num_units, resnet_unit_specs


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _built_table(depth, subnetworks, *, num_classes=10, coarse_units=None):
    """The table counted on real modules (what parareal_resnet_table computed before it went arithmetic)."""
    resnet = preact_resnet(depth, num_classes)
    rows = [
        {
            "num_subnetworks": None,
            "units_per_subnetwork": str(num_units(depth)),
            "coarse_units": 0,
            "parameters": _count(resnet),
            "largest_subnetwork_parameters": _count(resnet),
            "coarse_parameters": 0,
            "preprocess_parameters": _count(resnet.stem),
        }
    ]
    trunk = resnet.units
    for n in subnetworks:
        plan = parareal_resnet_plan(depth, num_subnetworks=n, coarse_units=coarse_units)
        sub = [sum(_count(trunk[i]) for i in r) for r in plan.ranges]
        coarse = sum(_count(s.build(None)) for specs in plan.coarse for s in specs)
        pre = _count(resnet.stem) + sum(_count(_preprocessing(c, r)) for c, r in plan.input_shapes[1:])
        sizes = plan.units_per_subnetwork
        rows.append(
            {
                "num_subnetworks": n,
                "units_per_subnetwork": str(sizes[0]) if len(set(sizes)) == 1 else f"{sizes[0]}x{n - 1}+{sizes[-1]}",
                "coarse_units": 0 if n == 1 else plan.coarse_units,
                "parameters": pre + sum(sub) + coarse + _count(resnet.head),
                "largest_subnetwork_parameters": max(sub),
                "coarse_parameters": coarse,
                "preprocess_parameters": pre,
            }
        )
    return rows


def _valid_subnetworks(depth):
    total = num_units(depth)
    return [n for n in range(1, total + 1) if (n - 1) * ceil_div(total, n) < total]


@pytest.mark.parametrize("depth", [11, 20, 29, 47, 65])
@pytest.mark.parametrize(("num_classes", "coarse_units"), [(10, None), (100, 1), (3, 5)])
def test_arithmetic_counts_equal_built_networks_for_every_n(depth, num_classes, coarse_units):
    n_values = _valid_subnetworks(depth)
    expected = _built_table(depth, n_values, num_classes=num_classes, coarse_units=coarse_units)
    assert parareal_resnet_table(depth, n_values, num_classes=num_classes, coarse_units=coarse_units) == expected


def test_unit_parameters_equal_the_built_unit():
    for spec in resnet_unit_specs(29):
        assert unit_parameters(spec) == _count(spec.build(None))
        assert unit_parameters(spec, norm=False) == _count(spec.build(lambda c: torch.nn.Identity()))
    assert [first for first, _ in stage_unit_specs(1001)] == [s for s in resnet_unit_specs(1001) if s.changes_shape]


def test_resnet1001_numbers():
    rows = {r["num_subnetworks"]: r for r in parareal_resnet_table(1001, [1, 18])}
    assert rows[None]["parameters"] == rows[1]["parameters"] == 10_327_706
    assert rows[18]["parameters"] == 10_983_642 and rows[18]["units_per_subnetwork"] == "19x17+10"


def test_the_issue_s_depth_answers_at_once(capsys):
    code, calls = count_calls(cli.main, ["models", "--depth", "90000002", "--json"])
    # it sat silent for minutes when it built the modules (30 million units: tens of millions of
    # calls); counted without building, it is argparse and a few hundred calls per row
    assert code == 0 and calls < 200_000
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["units_per_subnetwork"] == "30000000"
    assert rows[0]["parameters"] == 927_360_034_010
    # N = 1 is the ResNet itself; more N add preprocessing and coarse networks
    assert rows[1]["parameters"] == rows[0]["parameters"]
    assert all(r["parameters"] > rows[0]["parameters"] for r in rows[2:])


def test_huge_n_is_counted_without_enumerating_the_subnetworks():
    rows, calls = count_calls(parareal_resnet_table, 90000002, [30_000_000])
    row = rows[1]
    assert calls < 10_000  # enumerating 30 million subnetworks would take at least 30 million calls
    assert row["units_per_subnetwork"] == "1" and row["largest_subnetwork_parameters"] == 94_720


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depth", "3000000008"], "`--depth` must be at most 2999999999; got 3000000008."),
        (["--depth", "12"], "`depth` must be 9n + 2"),
        (["--depth", "1001", "-N", "1000000000"], "the largest such N below 1000000000 is 333"),
        (["--depth", "20", "-N", "0"], "`num_subnetworks` must be at least 1; got 0."),
        (["--coarse-units", "0"], "`coarse_units` must be at least 1; got 0."),
        (["--num-classes", "0"], "argument --num-classes: expected a positive integer, got '0'"),
    ],
)
def test_bad_models_options_exit_2_with_one_line(capsys, argv, message):
    code, calls = count_calls(cli.main, ["models", *argv])
    assert code == 2 and calls < 200_000  # refused from the arguments, nothing built
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
