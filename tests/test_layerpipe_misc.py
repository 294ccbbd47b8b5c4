"""Cost profiles, the delayed-gradient emulator, Gantt charts and the CLI."""

import copy
import json

import pytest
import torch
from call_budget import count_calls
from hypothesis import given, settings
from hypothesis import strategies as st

from parareal_toolkit import cli
from parareal_toolkit.layerpipe import (
    DelayedGradientTrainer,
    compare,
    evaluate,
    pipedream_delays,
    plot_gantt,
    profile_from_sequential,
    resnet_profile,
    vgg16_profile,
)


def test_vgg16_counted_macs():
    prof = vgg16_profile()
    assert len(prof) == 16
    conv_macs = sum(l.forward for l in prof.layers[:13]) - sum(l.activation_size for l in prof.layers[:13])
    # 15.35 GMAC of convolutions + 0.124 GMAC FC: the published 15.5 GMAC of VGG-16
    assert 15.3e9 < sum(l.forward for l in prof.layers) < 15.6e9
    assert prof.layers[1].weight_grad == 224 * 224 * 64 * 64 * 9  # conv1_2
    assert prof.layers[0].activation_grad == 0  # no gradient for the image
    assert prof.layers[13].weight_grad == 25088 * 4096
    assert conv_macs > 0


def test_resnet18_blocks():
    prof = resnet_profile(18)
    assert len(prof) == 10  # stem, 8 basic blocks, head
    assert 1.7e9 < sum(l.forward for l in prof.layers) < 1.9e9  # 1.8 GMAC


def test_profile_rejects_unknown_parametrised_layers():
    with pytest.raises(TypeError):
        profile_from_sequential(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.PReLU()), (2,))


def _data(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (6,), generator=gen))
        for _ in range(n)
    ]


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).double()


@settings(max_examples=10)
@given(seed=st.integers(0, 1000), stash=st.booleans(), lr=st.floats(0.01, 0.5))
def test_zero_delay_is_plain_sgd_bitwise(seed, stash, lr):
    model = _model(seed)
    reference = copy.deepcopy(model)
    data = _data(6, seed)
    loss_fn = torch.nn.functional.cross_entropy
    DelayedGradientTrainer(model, [0] * 5, lr, loss_fn, weight_stashing=stash).fit(data)
    opt = torch.optim.SGD(reference.parameters(), lr=lr)
    for x, y in data:
        opt.zero_grad()
        loss_fn(reference(x), y).backward()
        opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.equal(a, b)


def test_delays_use_old_weights_and_stashing_matters():
    loss_fn = torch.nn.functional.cross_entropy
    data = _data(8)
    delays = pipedream_delays(5)
    assert delays == [4, 3, 2, 1, 0]
    runs = {}
    for stash in (True, False):
        model = _model()
        runs[stash] = (
            DelayedGradientTrainer(model, delays, 0.1, loss_fn, weight_stashing=stash).fit(data),
            [p.detach().clone() for p in model.parameters()],
        )
    plain = _model()
    DelayedGradientTrainer(plain, [0] * 5, 0.1, loss_fn).fit(data)
    # the first forward of a delayed run sees the initial weights for S(l) steps
    assert runs[True][0][0] == runs[False][0][0]
    assert not all(torch.equal(a, b) for a, b in zip(runs[True][1], runs[False][1]))
    assert not all(torch.equal(a, b) for a, b in zip(runs[True][1], plain.parameters()))


def test_emulator_bad_delays():
    with pytest.raises(ValueError, match="delays"):
        DelayedGradientTrainer(_model(), [0, 0], 0.1, torch.nn.functional.cross_entropy)


def test_gantt_one_row_per_processor(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    _row, trace = evaluate("zb-h1", vgg16_profile(), 4, microbatches=4, return_trace=True)
    ax = plot_gantt(trace)
    assert len(ax.get_yticks()) == 4
    ax.figure.savefig(tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_cli_table_json_and_gantt(tmp_path, capsys):
    out = tmp_path / "r.json"
    png = tmp_path / "g.png"
    code = cli.main(
        [
            "layerpipe",
            "--network",
            "vgg16",
            "--processors",
            "7",
            "8",
            "--schedules",
            "pipedream",
            "layerpipe",
            "zb-h1",
            "--microbatches",
            "8",
            "--gantt",
            str(png),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "layerpipe" in text and "1.25" in text and "1.80" in text
    rows = json.loads(out.read_text())["rows"]
    assert {(r["processors"], r["schedule"]) for r in rows} == {
        (p, s) for p in (7, 8) for s in ("pipedream", "layerpipe", "zb-h1")
    }
    lp = [r for r in rows if r["schedule"] == "layerpipe"]
    assert all(r["speedup"] > 1 for r in lp)
    assert png.stat().st_size > 1000


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--processors", "0"], "processors"),
        (["--processors", "40", "--schedules", "pipedream"], "at most 16"),
        (["--costs", "1", "-1", "1"], "forward|activation_grad|weight_grad"),
        (["--schedules", "magic"], "schedules"),
        (["--network", "alexnet"], "network"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, match):
    import re

    assert cli.main(["layerpipe", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--latency", "nan"], "argument --latency: expected a non-negative number, got 'nan'"),
        (["--latency", "inf"], "argument --latency: expected a non-negative number, got 'inf'"),
        (["--costs", "1", "nan", "1"], "`layer0.activation_grad` must be non-negative and finite; got nan."),
        (["--costs", "1", "1"], "--costs must be F A G triples; got 2 numbers."),
        (["--network", "vgg16", "--costs", "1", "1", "1"], "--costs and --network exclude each other"),
        (["--costs", "0", "0", "0", "--processors", "1"], "--costs must hold some work; every cost is zero."),
        (["--latency", "1e308"], "the simulated times overflow float64 (makespan inf)"),
        (
            # refused by the costs' declared domain (COST_RANGE) before any simulation
            ["--costs", "1e307", "1e307", "1e307", "1e307", "1e307", "1e307", "--processors", "2"],
            "--costs: `layer0.forward` must be 0 or between 1e-100 and 1e+100",
        ),
        (
            # its memory (3.19 TiB of simulated tasks) is refused first, on any machine, before its time
            ["--microbatches", "100000000", "--schedules", "gpipe"],
            "the layerpipe simulation (P up to 9, 100000000 micro-batches) needs 3.19 TiB, more than",
        ),
    ],
)
def test_cli_refuses_nonsense_numbers_quickly(capsys, argv, message):
    code, calls = count_calls(cli.main, ["layerpipe", *argv])
    assert code == 2 and calls < 200_000  # refused from the estimate, before simulating (calls, not seconds)
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_says_when_no_p_is_in_the_paper_s_range(capsys):
    assert cli.main(["layerpipe", "--processors", "2", "3"]) == 0
    out = capsys.readouterr().out
    assert "max at P=7..9 n/a (no P in 7..9)" in out and "nan" not in out


def test_compare_reports_progress_after_each_row():
    calls = []
    rows = compare(vgg16_profile(), [2, 3], ["pipedream", "gpipe"], progress=lambda p, name: calls.append((p, name)))
    assert calls == [(2, "pipedream"), (2, "gpipe"), (3, "pipedream"), (3, "gpipe")]
    assert [(r["processors"], r["schedule"]) for r in rows] == calls


def test_evaluate_refuses_times_that_overflow():
    with pytest.raises(ValueError, match="overflow float64"):
        evaluate("gpipe", vgg16_profile(), 4, latency=1e308)
