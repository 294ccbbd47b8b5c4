"""Where every benchmark script writes: a scratch folder by default, the committed results only on request.

A plain run (``python benchmarks/table2.py``) writes its results file and figures into
``./benchmark-output/`` (or ``--out DIR``) and leaves ``benchmarks/results/`` alone, so trying
a benchmark never overwrites the numbers the README and the docs show. ``--update-results``
writes the committed files under their committed names instead, then regenerates the
README's tables from them (``docs/_ext/results_tables.py --update-readme``; the docs render
theirs from the same files when they are built). An explicit ``--json``/``--plot`` path
into ``benchmarks/results/`` or ``benchmarks/certificates/`` is refused without
``--update-results``.

Every script calls :func:`add_output_options` on its parser, :func:`output_path` for each
file it writes (right after parsing, before any work) and :func:`finish` at the end;
``tests/test_benchmarks_output.py`` checks that.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"
CERTIFICATES = BENCHMARKS / "certificates"
COMMITTED = (RESULTS, CERTIFICATES)
SCRATCH = "benchmark-output"  # relative to the working directory; in .gitignore


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--out DIR`` and ``--update-results`` to a benchmark's parser."""
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"folder for the files this run writes (default ./{SCRATCH}/, created)",
    )
    parser.add_argument(
        "--update-results",
        action="store_true",
        help="rewrite the committed files in benchmarks/results/ instead, then regenerate the README's tables",
    )


def _inside(path: Path, folders) -> bool:
    resolved = path.resolve()
    return any(resolved == folder or folder in resolved.parents for folder in folders)


def output_path(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    name: str,
    *,
    explicit: str | os.PathLike | None = None,
    committed: Path = RESULTS,
) -> Path:
    """The path a file called ``name`` is written to (its folder created).

    ``explicit`` (a ``--json``/``--plot`` value) wins, but may point into the committed
    folders only with ``--update-results``; otherwise ``committed / name`` with
    ``--update-results``, else ``--out`` (default ``./benchmark-output/``) ``/ name``.
    """
    if explicit is not None:
        path = Path(explicit)
        if not args.update_results and _inside(path, COMMITTED):
            parser.error(
                f"{explicit} is a committed results file: only --update-results rewrites "
                f"benchmarks/results/ (without it, runs write into ./{SCRATCH}/ or --out DIR)"
            )
    elif args.update_results:
        if args.out is not None:
            parser.error("--out and --update-results exclude each other: the committed files have one place")
        path = committed / name
    else:
        path = Path(args.out if args.out is not None else SCRATCH) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def finish(args: argparse.Namespace, *written: str | os.PathLike) -> None:
    """Say what was written; after ``--update-results`` regenerate the README's tables from the results files."""
    for path in written:
        print(f"wrote {path}")
    if args.update_results:
        sys.path.insert(0, str(REPO / "docs" / "_ext"))
        try:
            from results_tables import update_readme
        finally:
            sys.path.pop(0)
        changed = update_readme()
        print("README.md tables regenerated" if changed else "README.md tables already match the results files")
