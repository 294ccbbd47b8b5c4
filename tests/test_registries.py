"""Each choice a user makes by name has one registry, and the command line offers exactly its names."""

from __future__ import annotations

import argparse

import pytest

from parareal_toolkit.cli import build_parser


def _choices(command: str, option: str) -> tuple[str, ...]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    action = next(a for a in sub._actions if option in a.option_strings)
    return tuple(action.choices)


def _registries():
    from parareal_toolkit._iteration import FORM_UPDATES
    from parareal_toolkit._names import CRITERIA, CYCLE_NAMES, METHOD_NAMES, MGRIT_CRITERIA, RELAX_NAMES
    from parareal_toolkit.ode import SOLVE_IVP_METHODS, STEPPERS
    from parareal_toolkit.plans import SPLITS
    from parareal_toolkit.training.placement import PLACEMENTS

    ivp = tuple(f"ivp-{m.lower()}" for m in SOLVE_IVP_METHODS)
    return (
        {
            ("ode", "--form"): tuple(FORM_UPDATES),
            ("models", "--split"): tuple(SPLITS),
            ("bench", "--split"): tuple(SPLITS),
            ("train", "--split"): tuple(SPLITS),
            ("train", "--placement"): tuple(PLACEMENTS),
            ("ode", "--method"): METHOD_NAMES,
            ("speedup", "--method"): METHOD_NAMES,
            ("ode", "--relax"): RELAX_NAMES,
            ("ode", "--cycle"): CYCLE_NAMES,
            ("ode", "--criterion"): (*CRITERIA, *(c for c in MGRIT_CRITERIA if c not in CRITERIA)),
            ("ode", "--fine"): None,  # steppers, solve_ivp methods and "exact" (the linear problems' own)
            ("ode", "--coarse"): None,
        },
        tuple(STEPPERS),
        ivp,
    )


@pytest.mark.parametrize(
    "command, option",
    [
        ("ode", "--form"),
        ("models", "--split"),
        ("bench", "--split"),
        ("train", "--split"),
        ("train", "--placement"),
        ("ode", "--fine"),
        ("ode", "--coarse"),
        ("ode", "--method"),
        ("speedup", "--method"),
        ("ode", "--relax"),
        ("ode", "--cycle"),
        ("ode", "--criterion"),
    ],
)
def test_the_command_line_offers_exactly_the_registered_names(command, option):
    registries, steppers, ivp = _registries()
    offered = _choices(command, option)
    expected = registries[(command, option)]
    if option == "--fine":  # the linear problems' exact propagator, every stepper, every solve_ivp method
        assert offered == ("exact", *steppers, *ivp)
    elif option == "--coarse":  # a coarse propagator is one cheap step: the steppers
        assert offered == steppers
    else:
        assert offered == expected


def test_every_registered_strategy_answers_to_its_own_name():
    from parareal_toolkit.ode import STEPPERS
    from parareal_toolkit.plans import SPLITS
    from parareal_toolkit.training.placement import PLACEMENTS

    assert all(cls.name == name for name, cls in STEPPERS.items())
    assert all(split.name == name for name, split in SPLITS.items())
    assert all(getattr(placement, "name", name) == name for name, placement in PLACEMENTS.items())
