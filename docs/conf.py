"""Sphinx configuration of the txsmarkets documentation (``sphinx-build -W -b html docs OUT``).

The suite builds it with warnings as errors and runs its code blocks as doctests
(``tests/test_docs.py``).
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
# The checkout first, so that the docs describe this tree's txsmarkets; then the local
# extension.
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

import txsmarkets  # noqa: E402

project = "txsmarkets"
author = "the txsmarkets authors"
copyright = "2026, the txsmarkets authors"
release = txsmarkets.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "txsdocs",
]
# intersphinx would fetch inventories over the network: the build stays offline.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "furo"
html_title = f"txsmarkets {release}"
templates_path: list[str] = []
exclude_patterns = ["_build"]
nitpicky = False
# `Name` is a cross-reference: a txsmarkets name links to the reference, found by its short
# name (``any`` searches every module, where ``py:obj`` would need the full path), and one
# that does not resolve fails the build. A name from outside txsmarkets is shown as code
# (``txsdocs.outside_names_as_code``); ``literal`` text takes double backticks.
default_role = "any"
# "--option" stays two hyphens, quotes stay straight: this is a technical text.
smartquotes = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autoclass_content = "both"

# Every code block of the docs pages (not of the docstrings, which trial runs through
# tests/test_docstrings when it has them) is a doctest: the doctest builder runs them.
doctest_global_setup = """
from decimal import Decimal
"""
