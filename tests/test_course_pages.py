"""The course pages' code runs and prints what the pages show.

The worked example and the exercises under ``docs/course`` and the user guides under
``docs/users`` give their answers as ``pycon`` blocks; each page is run here as a doctest
file, so a number on those pages is the number the code computes today.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted([*DOCS.glob("course/*.md"), *DOCS.glob("users/*.md")])
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# pages whose examples train a network or run hypothesis properties: several seconds each
SLOW = {"users/training.md", "users/verification.md"}


def _param(page: Path):
    name = page.relative_to(DOCS).as_posix()
    return pytest.param(page, id=name, marks=[pytest.mark.slow] if name in SLOW else [])


def test_the_pages_exist():
    # a glob that found nothing would make the test below vacuous
    names = {page.relative_to(DOCS).as_posix() for page in PAGES}
    assert {"course/dahlquist.md", "course/exercises.md", "users/verification.md"} <= names


@pytest.mark.parametrize("page", [_param(page) for page in PAGES])
@pytest.mark.usefixtures("single_torch_thread")
def test_page_examples_print_what_the_page_shows(page):
    failures, attempted = doctest.testfile(
        str(page), module_relative=False, optionflags=OPTIONS, verbose=False, report=False, raise_on_error=False
    )
    assert failures == 0, f"{failures} of {attempted} examples on {page.name} fail (run doctest on it for details)"
