"""``{value}`FORMAT module:expression```: one number in the text, computed while the page is built.

The inline companion of ``{computed-table}`` (``results_tables.py``) and ``{executed-code}``:
a number that prose states (a contraction factor, a parameter count, a figure of the seed
paper kept in the toolkit) is written as where it comes from, never as its digits::

    at most {value}`.4f parareal_toolkit.ode:heat_contraction_factor()` per iteration
    {value}`, parareal_toolkit.plans:parareal_resnet_table(depth=1001, subnetworks=())[0]["parameters"]`

``FORMAT`` is a :func:`format` spec (``.4f``, ``,``, ``.0%``, ``d``); the rest is
``module:expression``, evaluated in that module's namespace. The expression may only look
up public names and attributes, call them with literal arguments, index with literals and combine
numbers with ``+ - * /``: a source of numbers, not a place for code. A failing value fails
the build. ``tests/test_docs_numbers.py`` evaluates every ``{value}`` of every page without
a build, and scans the pages for numbers typed by hand.
"""

from __future__ import annotations

import ast
import importlib
import math
import operator
import re
from typing import Any

import numpy as np
import scipy.optimize

# a MyST role as written in a Markdown page, or the reST form (gallery text blocks)
ROLE = re.compile(r"(?<!`)\{value\}`(?P<md>[^`]+)`|:value:`(?P<rst>[^`]+)`")

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluate(node: ast.AST, namespace: Any) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute)) and (
        node.id if isinstance(node, ast.Name) else node.attr
    ).startswith("_"):
        raise ValueError(f"a value names public things only; got {ast.unparse(node)!r}")
    if isinstance(node, ast.Name):
        if not hasattr(namespace, node.id):
            raise ValueError(f"{namespace.__name__} has no name {node.id!r}")
        return getattr(namespace, node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(node.value, namespace), node.attr)
    if isinstance(node, ast.Call):
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords):
            raise ValueError("no **kwargs in a value")
        return _evaluate(node.func, namespace)(*args, **kwargs)
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, namespace)[ast.literal_eval(node.slice)]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left, namespace), _evaluate(node.right, namespace))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, namespace)
    raise ValueError(f"a value may not contain {type(node).__name__} ({ast.unparse(node)!r})")


def compute(text: str) -> str:
    """The text a ``{value}`` shows: ``FORMAT module:expression`` evaluated and formatted.

    Parameters
    ----------
    text : str
        The role's content, e.g. ``".4f parareal_toolkit.ode:heat_contraction_factor()"``.

    Returns
    -------
    str
        ``format(value, FORMAT)``.
    """
    spec, _, source = text.strip().partition(" ")
    module_name, colon, expression = source.strip().partition(":")
    if not colon or not module_name or not expression.strip():
        raise ValueError(f"a value is 'FORMAT module:expression'; got {text!r}")
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"{expression!r} is not an expression: {exc.msg}") from None
    value = _evaluate(tree, importlib.import_module(module_name))
    if isinstance(value, np.generic):
        value = value.item()
    return format(value, spec)


# --- values the pages state that are not one call of the toolkit --------------------------


def heat_worst_mode(substeps: int = 1) -> float:
    """The ``x > 0`` where the implicit-Euler factor on ``z = -x`` peaks (about 1.79 for ``M = 1``).

    Returns
    -------
    float
        The maximiser of :func:`parareal_toolkit.ode.convergence_factor` on the negative real
        axis; its value there is :func:`parareal_toolkit.ode.heat_contraction_factor`.
    """
    from parareal_toolkit.ode import convergence_factor

    # the search of heat_contraction_factor: bounded searches over log x, the best one
    best = min(
        (
            scipy.optimize.minimize_scalar(
                lambda s: -convergence_factor(-math.exp(s), substeps), bounds=(a, a + 2.0), method="bounded"
            )
            for a in np.arange(-6.0, 8.0, 2.0)
        ),
        key=lambda r: r.fun,
    )
    return math.exp(best.x)


# --- Sphinx -------------------------------------------------------------------------


def _role(name, rawtext, text, lineno, inliner, options=None, content=None):
    from docutils import nodes

    try:
        shown = compute(text)
    except Exception as exc:  # any failure of the source fails the build, with the page and line
        message = inliner.reporter.error(f"{{value}}`{text}` failed: {type(exc).__name__}: {exc}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    return [nodes.inline(rawtext, shown, classes=["computed-value"])], []


def setup(app):
    app.add_role("value", _role)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
