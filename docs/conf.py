"""Sphinx settings for `make docs`.

scripts/docs.py lays out the source tree under build/docs/src (this folder and the notebooks,
linked, not copied), starts a real local server for the notebooks and runs sphinx-build with
warnings as errors.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

from liftbridge_nb import __version__

project = "liftbridge-nb"
release = version = __version__

extensions = ["sphinx.ext.autodoc", "myst_nb"]
exclude_patterns = ["**/.ipynb_checkpoints"]

html_theme = "furo"
html_title = f"liftbridge-nb {release}"
html_show_copyright = False

autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}

# The notebooks run at build time against the server in $LIFTBRIDGE_ADDRESS (scripts/docs.py).
# A cell that raises fails the build; no cell may take more than 180 s.
nb_execution_mode = "force"
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# Modules whose every name in __all__ the API reference must document, under that path or any
# other public path to the same object.
PUBLIC_MODULES = (
    "liftbridge_nb",
    "liftbridge_nb.client",
    "liftbridge_nb.aio",
    "liftbridge_nb.magics",
    "liftbridge_nb.widgets",
    "liftbridge_nb.server",
)
NOT_DOCUMENTED = {"__version__"}


def _documents(documented: set[str], name: str, member: object) -> bool:
    """Whether some documented module-level name is ``member`` itself."""
    for fullname in documented:
        module_name, _, short = fullname.rpartition(".")
        if short == name and module_name.startswith("liftbridge_nb"):
            try:
                if getattr(importlib.import_module(module_name), name) is member:
                    return True
            except (ImportError, AttributeError):
                continue
    return False


def check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (an error under -W) about a public name that no API page documents."""
    documented = set(env.get_domain("py").objects)  # type: ignore[attr-defined]
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name in NOT_DOCUMENTED or _documents(documented, name, getattr(module, name)):
                continue
            logging.getLogger(__name__).warning(
                "%s.%s is public (in __all__) but no page of the API reference documents it",
                module_name,
                name,
            )


def _assigned_doc(module_name: str, name: str) -> list[str] | None:
    """The docstring (or ``#:`` comment) of the assignment to ``name`` in that module's source."""
    try:
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    except PycodeError:
        return None
    lines = docs.get(("", name))
    return list(lines) if lines else None


def reexported_data_doc(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """A constant a package re-exports gets the docstring of its assignment, not its type's."""
    if what != "data":
        return
    module_name, _, short = name.rpartition(".")
    if _assigned_doc(module_name, short) is not None:
        return
    for submodule_name, submodule in list(sys.modules.items()):
        if submodule_name.startswith(f"{module_name}.") and getattr(submodule, short, None) is obj:
            doc = _assigned_doc(submodule_name, short)
            if doc:
                lines[:] = doc
                return
    lines.clear()  # better nothing than the docstring of str or dict


def public_bases(app: Sphinx, name: str, obj: object, options: Any, bases: list[Any]) -> None:
    """Leave out base classes from private modules (``liftbridge_nb._core``): they are not API."""
    bases[:] = [base for base in bases if not getattr(base, "__module__", "").startswith("liftbridge_nb._")]


def setup(app: Sphinx) -> dict[str, Any]:
    """Add the public-name check, the docstrings of re-exported constants, public bases only."""
    app.connect("env-check-consistency", check_public_names)
    app.connect("autodoc-process-docstring", reexported_data_doc)
    app.connect("autodoc-process-bases", public_bases)
    return {"parallel_read_safe": True}
