"""Tables of numbers that come from data, never typed: two directives and a README updater.

``{results-table} ../benchmarks/results/table2_cpu.json`` with ``:table: NAME`` renders
one table of a results file (the format of :mod:`parareal_toolkit.results`: ``machine``,
``date``, ``command`` and ``tables: {name: {title, columns, rows}}`` with string cells) as a
real table, captioned with its title, the machine, the date and the command.

``{computed-table} module:function`` with optional ``:args:`` (Python literals, as in a
call: ``processors=[2, 3], network="vgg16"``) calls the function while the page is built;
it must return the same ``{title, columns, rows}`` dict (simulated numbers, such as
LayerPipe's cycle counts, which any machine reproduces exactly).

Both tables carry the class ``results-table``, so ``tests/test_docs.py`` can find them in
the built HTML and compare every cell with a fresh reading of the source.

The README's results sections are generated blocks between markers::

    <!-- results: benchmarks/results/table2_cpu.json#ratios -->
    ...
    <!-- /results -->

(or ``<!-- computed: module:function(args) -->``, or a one-line headline: one row of a
results table, some of its columns, ``<!-- headline: PATH#TABLE | N=12 | col, col -->``),
filled by::

    python docs/_ext/results_tables.py --update-readme

and checked by ``--check-readme`` (exit 1 when a block differs from a fresh render).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"(?P<open><!-- (?P<kind>results|computed|headline): (?P<source>[^\n]*?) -->\n)(?P<body>.*?)(?P<close><!-- /results -->)",
    re.S,
)


# --- sources ------------------------------------------------------------------------


def parse_args(text: str | None) -> dict[str, Any]:
    """Keyword arguments written as in a call, ``a=1, b=[2, 3]``; only Python literals."""
    if not text or not text.strip():
        return {}
    call = ast.parse(f"f({text})", mode="eval").body
    if not isinstance(call, ast.Call) or call.args:
        raise ValueError(f":args: must be keyword arguments (name=literal, ...); got {text!r}")
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords if keyword.arg}


def check_table(table: Any, origin: str) -> dict[str, Any]:
    """``table`` if it is ``{title, columns, rows}`` with string cells, one per column."""
    if not isinstance(table, dict) or not {"title", "columns", "rows"} <= set(table):
        raise ValueError(f"{origin} is not a {{title, columns, rows}} table")
    width = len(table["columns"])
    for i, row in enumerate(table["rows"]):
        if len(row) != width or not all(isinstance(cell, str) for cell in row):
            raise ValueError(f"{origin}: row {i} must hold {width} string cells; got {row!r}")
    return table


def results_source(path: str | Path, name: str) -> tuple[dict[str, Any], str, str]:
    """One table of a results file, its caption (title, machine, date) and its command."""
    with open(path, encoding="utf-8") as fh:
        record = json.load(fh)
    missing = [k for k in ("machine", "date", "command", "tables") if k not in record]
    if missing:
        raise ValueError(f"results file {str(path)!r} lacks {', '.join(missing)}")
    if name not in record["tables"]:
        raise ValueError(f"results file {str(path)!r} has no table {name!r}; it has {sorted(record['tables'])}")
    table = check_table(record["tables"][name], f"{path}#{name}")
    return table, f"{table['title']}. Measured on {record['machine']}, {record['date']}:", record["command"]


def computed_source(
    target: str, args: dict[str, Any], when: str = "when this page was built"
) -> tuple[dict[str, Any], str, str]:
    """The table ``module:function(**args)`` returns now, its caption and the call."""
    module_name, _, function_name = target.partition(":")
    if not function_name:
        raise ValueError(f"computed-table needs module:function; got {target!r}")
    function = getattr(importlib.import_module(module_name), function_name)
    table = check_table(function(**args), target)
    call = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return table, f"{table['title']}. Computed {when}:", f"{module_name}.{function_name}({call})"


# --- Markdown (README) ------------------------------------------------------------------


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def render_markdown(table: dict[str, Any], caption: str, code: str) -> str:
    """A GitHub Markdown table under its caption (in italics) and its command."""
    lines = [f"*{_escape(caption)}* `{code}`", ""]
    lines.append("| " + " | ".join(_escape(c) for c in table["columns"]) + " |")
    lines.append("| " + " | ".join("---" for _ in table["columns"]) + " |")
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in table["rows"]]
    return "\n".join(lines) + "\n"


def render_headline(source: str, root: Path = ROOT) -> str:
    """One line from one row of a results table: ``PATH#TABLE | COLUMN=VALUE, ... | col, col, ...``.

    The row is the one whose ``COLUMN`` cells are the ``VALUE``s; the line names the table's title,
    that row's chosen cells, the machine and the date.
    """
    parts = [part.strip() for part in source.split("|")]
    if len(parts) != 3 or ("=" not in parts[1] and parts[1]):
        raise ValueError(f"headline needs PATH#TABLE | COLUMN=VALUE, ... | col, col; got {source!r}")
    path, _, name = parts[0].partition("#")
    with open(root / path, encoding="utf-8") as fh:
        record = json.load(fh)
    table = check_table(record["tables"][name], parts[0])
    where = [tuple(s.strip() for s in pair.partition("=")[::2]) for pair in parts[1].split(",") if pair.strip()]
    rows = [row for row in table["rows"] if all(row[table["columns"].index(k)] == v for k, v in where)]
    selector = ", ".join(f"{k} = {v}" for k, v in where)  # none: the table's only row
    if len(rows) != 1:
        raise ValueError(f"{parts[0]}: {len(rows)} rows with {selector}; a headline needs exactly one")
    cells = ", ".join(f"{c.strip()} {rows[0][table['columns'].index(c.strip())]}" for c in parts[2].split(","))
    return f"{table['title']}{'; ' + selector if selector else ''}: {cells} ({record['machine']}, {record['date']}).\n"


def _readme_block(kind: str, source: str) -> str:
    if kind == "headline":
        return render_headline(source)
    if kind == "results":
        path, _, name = source.partition("#")
        table, caption, code = results_source(ROOT / path, name)
    else:
        match = re.fullmatch(r"([\w.]+:\w+)(?:\((.*)\))?", source.strip())
        if not match:
            raise ValueError(f"README computed block needs module:function(args); got {source!r}")
        table, caption, code = computed_source(match.group(1), parse_args(match.group(2)), when="by the code")
    return render_markdown(table, caption, code)


def readme_blocks(text: str) -> list[tuple[str, str, str]]:
    """``(marker source, current body, fresh body)`` of every generated block of ``text``."""
    return [
        (m.group("source"), m.group("body"), _readme_block(m.group("kind"), m.group("source")))
        for m in BLOCK.finditer(text)
    ]


def update_readme(path: Path = README) -> bool:
    """Re-render every generated block of ``path``; ``True`` if the file changed."""
    text = path.read_text(encoding="utf-8")
    new = BLOCK.sub(
        lambda m: m.group("open") + _readme_block(m.group("kind"), m.group("source")) + m.group("close"), text
    )
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


# --- Sphinx -------------------------------------------------------------------------


def _table_node(table: dict[str, Any], caption: str, code: str):
    from docutils import nodes

    # cells and captions are shown as written in the source: no curly quotes or en dashes
    # for "'" and "--" (a command line in a caption must stay a command line)
    def row(cells):
        node = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=cell, support_smartquotes=False)
            node += entry
        return node

    node = nodes.table(classes=["results-table"])
    title = nodes.title(support_smartquotes=False)
    title += nodes.Text(caption + " ")
    title += nodes.literal(code, code)
    node += title
    group = nodes.tgroup(cols=len(table["columns"]))
    node += group
    for _ in table["columns"]:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    head += row(table["columns"])
    group += head
    body = nodes.tbody()
    for cells in table["rows"]:
        body += row(cells)
    group += body
    return node


def _directives():
    from docutils.parsers.rst import directives
    from sphinx.util.docutils import SphinxDirective

    class ResultsTable(SphinxDirective):
        """``{results-table} PATH`` (relative to the page) with ``:table: NAME``."""

        required_arguments = 1
        option_spec: ClassVar[dict] = {"table": directives.unchanged_required}

        def run(self):
            relative, absolute = self.env.relfn2path(self.arguments[0], self.env.docname)
            self.env.note_dependency(relative)  # the page is rebuilt when the file changes
            try:
                table, caption, code = results_source(absolute, self.options.get("table", ""))
            except (OSError, ValueError) as exc:
                raise self.error(f"results-table {self.arguments[0]}: {exc}") from None
            return [_table_node(table, caption, code)]

    class ComputedTable(SphinxDirective):
        """``{computed-table} module:function`` with optional ``:args: name=literal, ...``."""

        required_arguments = 1
        option_spec: ClassVar[dict] = {"args": directives.unchanged}

        def run(self):
            try:
                table, caption, code = computed_source(self.arguments[0], parse_args(self.options.get("args")))
            except (ImportError, AttributeError, ValueError, SyntaxError) as exc:
                raise self.error(f"computed-table {self.arguments[0]}: {exc}") from None
            return [_table_node(table, caption, code)]

    return ResultsTable, ComputedTable


def setup(app):
    results, computed = _directives()
    app.add_directive("results-table", results)
    app.add_directive("computed-table", computed)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Fill or check the README's generated results blocks.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--update-readme", action="store_true", help="rewrite every block from its source")
    group.add_argument("--check-readme", action="store_true", help="exit 1 if a block differs from its source")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # the checkout's package for computed blocks
    if args.update_readme:
        print("README.md updated" if update_readme() else "README.md already up to date")
        return 0
    stale = [source for source, body, fresh in readme_blocks(README.read_text(encoding="utf-8")) if body != fresh]
    for source in stale:
        print(f"README block {source} differs from its source; run python docs/_ext/results_tables.py --update-readme")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
