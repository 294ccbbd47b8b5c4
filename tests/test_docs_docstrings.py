"""Every public function and class (each public module's ``__all__``) has its own docstring.

The list of public modules is the one the API reference is generated from
(``docs/_ext/api_pages.py``), so a module added there is checked here too. Every public
function that returns something documents it in a numpydoc ``Returns`` (or ``Yields``)
section.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import warnings
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[1] / "docs" / "_ext"


def _api_pages():
    spec = importlib.util.spec_from_file_location("api_pages", EXT / "api_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


API = _api_pages()


def _public_objects():
    for module_name, _ in API.PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in API.public_names(module_name):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                yield pytest.param(obj, id=f"{module_name}.{name}")


def _own_docstring(obj) -> str:
    # a class's own docstring (inspect.getdoc would inherit its base's); dataclasses without
    # one get an automatic "Name(field: type, ...)" signature, which is not documentation
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    doc = inspect.cleandoc(doc or "")
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""
    return doc


@pytest.mark.parametrize("module_name", [m for m, _ in API.PUBLIC_MODULES])
def test_public_module_has_a_docstring_and_an_explicit_public_list(module_name):
    module = importlib.import_module(module_name)
    assert inspect.cleandoc(module.__doc__ or ""), f"{module_name} has no module docstring"
    names = API.public_names(module_name)
    assert names, f"{module_name}.__all__ is empty"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{module_name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("obj", list(_public_objects()))
def test_public_function_or_class_has_its_own_docstring(obj):
    doc = _own_docstring(obj)
    assert doc, f"{obj.__module__}.{obj.__qualname__} has no docstring of its own"
    # the first line is the summary the API tables show: a sentence, not a fragment
    assert len(doc.splitlines()[0].split()) >= 3, f"summary line too short: {doc.splitlines()[0]!r}"


@pytest.mark.parametrize("obj", list(_public_objects()))
def test_public_docstring_parses_with_numpydoc(obj):
    docscrape = pytest.importorskip("numpydoc.docscrape", reason="the `docs` extra is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns on unknown or malformed sections
        docscrape.get_doc_object(obj)


def test_no_public_name_is_also_a_submodule():
    # autosummary resolves ``package.name`` to a submodule first, and ``import
    # package.name`` rebinds the package attribute: no module may share a public name
    for module_name, _ in API.PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in API.public_names(module_name):
            assert not inspect.ismodule(getattr(module, name)), f"{module_name}.{name} is a module"
            if hasattr(module, "__path__"):  # a package: look for a submodule of that name
                assert importlib.util.find_spec(f"{module_name}.{name}") is None, (
                    f"{module_name}.{name} is both a public name and a submodule"
                )


def _public_functions():
    for module_name, _ in API.PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in API.public_names(module_name):
            obj = getattr(module, name)
            if inspect.isroutine(obj):
                yield pytest.param(obj, id=f"{module_name}.{name}")


def _returns_nothing(obj) -> bool:
    try:
        annotation = inspect.signature(obj).return_annotation
    except (TypeError, ValueError):  # no signature to read: document a result
        return False
    # modules use `from __future__ import annotations`, so the annotation may be a string
    return annotation is None or annotation == "None"


@pytest.mark.parametrize("obj", list(_public_functions()))
def test_public_function_documents_what_it_returns(obj):
    docscrape = pytest.importorskip("numpydoc.docscrape", reason="the `docs` extra is not installed")
    if _returns_nothing(obj):
        return
    doc = docscrape.FunctionDoc(obj)
    assert doc["Returns"] or doc["Yields"], (
        f"{obj.__module__}.{obj.__qualname__} returns a value but has no numpydoc Returns section"
    )
