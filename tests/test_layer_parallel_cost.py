"""The counted work of layer-parallel MGRIT (``parareal_toolkit.plans.layer_parallel``) against the network's own counts."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit.errors import InputError
from parareal_toolkit.nn import LayerParallelResNet
from parareal_toolkit.plans import (
    layer_parallel_speedup_table,
    layer_parallel_step_cost,
    mgrit_block_work,
    stage_split,
)


@given(st.integers(2, 40), st.data())
def test_two_level_f_relaxation_work_is_the_closed_form(coarse, data):
    """``N_1 + N_0 + K (N_0 + N_1 - 1)`` evaluations for a block of ``N_0 = m N_1`` units (initial coarse sweep)."""
    m = data.draw(st.integers(2, 4), label="m")
    k = data.draw(st.integers(1, coarse), label="K")
    n0 = m * coarse
    work = mgrit_block_work(n0, coarsening=m, iterations=k)
    assert work["evaluations"] == coarse + n0 + k * (n0 + coarse - 1)
    assert work["evaluations"] == sum(work["maps"]) + work["sequential"]
    assert work["iterations"] == k and work["exact"] == (k == coarse)


@pytest.mark.parametrize(
    "depth, options",
    [
        (47, dict(iterations=1)),
        (65, dict(iterations=2)),
        (65, dict(levels=3, iterations=1)),
        (56, dict(coarsening=3)),
        (83, dict(levels=3, relax="FCF", iterations=2)),
    ],
)
def test_the_counted_work_is_what_the_network_evaluates(depth, options):
    model = LayerParallelResNet(depth, **options).eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 8))
    levels, m = model.options["levels"], model.options["coarsening"]
    for record in model.last_solves:
        count, used = stage_split(depth // 9 - 1, levels, m)
        assert record["units"] == count and record["levels"] == used
        work = mgrit_block_work(
            count, levels=used, coarsening=m, iterations=options.get("iterations"), relax=model.options["relax"]
        )
        assert work["evaluations"] == sum(record["evaluations"])
        assert work["iterations"] == record["iterations"]


@given(
    st.sampled_from([47, 65, 101, 164, 1001]), st.sampled_from([None, 1, 2]), st.sampled_from([(2, 2), (2, 4), (3, 2)])
)
def test_virtual_speedup_grows_with_processors_and_is_below_one_on_one(depth, iterations, setting):
    levels, m = setting
    costs = [
        layer_parallel_step_cost(depth, p, iterations=iterations, levels=levels, coarsening=m) for p in (1, 2, 8, 64)
    ]
    speedups = [c["speedup"] for c in costs]
    assert speedups == sorted(speedups)
    if costs[0]["block_units"]:
        assert speedups[0] < 1  # on one processor MGRIT only adds work
    else:
        assert speedups == [1.0] * 4
    # bounded by the parallelism there is: never beyond the block's share of the serial work, over P
    for p, cost in zip((1, 2, 8, 64), costs):
        assert cost["layer_parallel"] >= cost["serial"] / p - 1e-9


def test_fewer_iterations_cost_less():
    costs = [layer_parallel_step_cost(1001, 16, iterations=k, coarsening=4) for k in (1, 2, 4, None)]
    assert [c["speedup"] for c in costs] == sorted((c["speedup"] for c in costs), reverse=True)
    assert costs[-1]["exact"] and not costs[0]["exact"]


def test_refusals_name_the_argument():
    with pytest.raises(InputError, match="`units`"):
        mgrit_block_work(6, levels=3, coarsening=2)
    with pytest.raises(InputError, match="`processors`"):
        layer_parallel_step_cost(65, 0)
    with pytest.raises(InputError, match="`iterations`"):
        mgrit_block_work(8, iterations=0)


def test_the_table_has_one_row_per_count_run():
    table = layer_parallel_speedup_table(depth=65, processors=(1, 4), iterations=(1, 2, 5, None), settings=((2, 2),))
    assert table["columns"] == ["levels", "m", "K", "P = 1", "P = 4"]
    assert [row[2] for row in table["rows"]] == ["1", "2", "3 (exact)"]
    assert all(math.isfinite(float(cell)) for row in table["rows"] for cell in row[3:])
