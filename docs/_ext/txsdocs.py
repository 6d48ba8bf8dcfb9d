"""The txsmarkets docs' own directives.

``.. txsmarkets-modules:: PACKAGE`` documents every public module of ``PACKAGE`` (its
sub-packages too; generated ``*_pb2`` modules and names starting with ``_`` left out), each
under its own heading, with ``automodule``: a module added to the package is in the
reference without anyone listing it.

A package is given with its docstring only (its names are documented in their modules),
and a module with the names it defines (not those it imports).

``.. txsmarkets-options:: MODULE.Options`` and ``.. txsmarkets-exit-statuses::`` are the
daemons' options and the exit statuses, from the code.

``.. txsmarkets-messages::`` is the table of every message name a handler can be
registered for, with the protobuf type of its payload and the field that holds it, made from
`txsmarkets.wire.messages` and the generated schema.

A single-backtick name is a cross-reference (``default_role = "any"`` in ``conf.py``): a
txsmarkets name links to its reference, and one that does not resolve fails the build. A
name from elsewhere (the standard library, Twisted, protobuf ...) has no page to link to in
this offline build (no intersphinx inventory): it is shown as code, without a warning, when
Python finds it defined outside txsmarkets: by its dotted name (`twisted.internet.task.Clock`),
as a builtin, or as a name that txsmarkets imports (`Decimal`; in a docstring, its own
module's names first).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import inspect
import pkgutil
import re
from collections.abc import Sequence
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.domains.python import PythonDomain
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


#: Modules that only re-export another's names.
_SHIMS = frozenset({"txsmarkets.controls", "txsmarkets.framing"})


def public_modules(package: str) -> list[str]:
    """The public modules of ``package`` (itself first), by name, in order."""
    module = importlib.import_module(package)
    names = [package]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            parts = info.name.split(".")
            if info.name.endswith("_pb2") or any(part.startswith("_") for part in parts):
                continue
            names.append(info.name)
    return names


class ModulesDirective(SphinxDirective):
    required_arguments = 1
    option_spec = {"only": lambda text: text.split(), "heading": lambda text: text}

    def run(self) -> list[nodes.Node]:
        package = self.arguments[0]
        names = self.options.get("only") or public_modules(package)
        underline = self.options.get("heading", "-")
        lines: list[str] = []
        for name in names:
            lines += [name, underline * len(name), "", f".. automodule:: {name}"]
            module = importlib.import_module(name)
            if hasattr(module, "__path__") or name in _SHIMS:
                # A package's names are its modules', documented there: once is enough.
                lines.append("   :no-members:")
            else:
                # What the module defines, not what it imports (``__all__`` may list both).
                lines.append("   :ignore-module-all:")
            lines.append("")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=f"<txsmarkets-modules {package}>"), container)
        return list(container.children)


def message_rows() -> list[tuple[str, str, str]]:
    """(handler name, payload type, field) of every message."""
    from txsmarkets.wire import eto_pb2, seto_pb2
    from txsmarkets.wire.messages import ETO_NAMES, SETO_FIELDS, SETO_NAMES

    rows = []
    eto_fields = eto_pb2.Payload.DESCRIPTOR.fields_by_name
    for number, name in sorted(ETO_NAMES.items()):
        field = name[len("eto.") :]
        body = eto_fields.get(field)
        kind = body.message_type.full_name if body is not None and body.message_type is not None else "(none)"
        where = f"eto_payload.{field}" if body is not None else "eto_payload"
        rows.append((name, kind, where))
    seto_fields = seto_pb2.Payload.DESCRIPTOR.fields_by_name
    for number, name in sorted(SETO_NAMES.items()):
        field = SETO_FIELDS[number]
        body = seto_fields.get(field)
        kind = body.message_type.full_name if body is not None and body.message_type is not None else "(none)"
        rows.append((name, kind, field if body is not None else "(none)"))
    return rows


class MessagesDirective(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 35, 35):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body

        def row(cells: tuple[str, str, str], into: Any) -> None:
            line = nodes.row()
            for text in cells:
                entry = nodes.entry()
                entry += nodes.paragraph("", "", nodes.literal(text, text))
                line += entry
            into += line

        row(("handler name", "payload type", "field of seto.Payload"), head)
        for cells in message_rows():
            row(cells, body)
        return [table]


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], widths: tuple[int, ...], literal_first: bool = True) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body
    for cells, into, is_head in [(header, head, True)] + [(row, body, False) for row in rows]:
        line = nodes.row()
        for i, text in enumerate(cells):
            entry = nodes.entry()
            if i == 0 and literal_first and not is_head:
                entry += nodes.paragraph("", "", nodes.literal(text, text))
            else:
                entry += nodes.paragraph(text, text)
            line += entry
        into += line
    return table


class OptionsDirective(SphinxDirective):
    """``.. txsmarkets-options:: module.Options``: a table of a twistd plugin's options, from
    its ``optFlags`` and ``optParameters`` (and ``opt_*`` methods), so it cannot go stale."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name, _, name = self.arguments[0].rpartition(".")
        options = getattr(importlib.import_module(module_name), name)
        rows = []
        for flag in options.optFlags:
            long, short, text = flag[0], flag[1], flag[2]
            rows.append((f"--{long}" + (f", -{short}" if short else ""), text, ""))
        for parameter in options.optParameters:
            long, short, default, text = parameter[0], parameter[1], parameter[2], parameter[3]
            shown = "" if default is None else str(default)
            rows.append((f"--{long}=" + (f", -{short}" if short else ""), text, shown))
        for attribute in sorted(vars(options)):
            if attribute.startswith("opt_") and attribute not in ("opt_help", "opt_version"):
                doc = (getattr(options, attribute).__doc__ or "").strip()
                rows.append((f"--{attribute[4:].replace('_', '-')}=", doc, ""))
        return [_table(("option", "meaning", "default"), rows, (30, 55, 15))]


class ExitStatusesDirective(SphinxDirective):
    """``.. txsmarkets-exit-statuses::``: the daemon's exit statuses, from `EXIT_STATUSES`."""

    def run(self) -> list[nodes.Node]:
        from txsmarkets.daemon.service import EXIT_STATUSES

        rows = [(str(status), meaning) for status, meaning in EXIT_STATUSES]
        return [_table(("status", "meaning"), rows, (10, 90))]


def untested_docstring_examples(app: Sphinx, doctree: nodes.document) -> None:
    """Show the ``>>>`` examples of docstrings as code, and leave them out of the doctest
    builder: the suite runs them in their own modules' namespaces (``doctest.testmod``),
    where their names are defined. The pages' own examples stay doctests."""
    for block in list(doctree.findall(nodes.doctest_block)):
        if "docstring of" in (block.source or ""):
            code = nodes.literal_block(block.rawsource, block.astext(), language="pycon")
            code.source, code.line = block.source, block.line
            block.replace_self(code)


#: A class name two packages define, and whose class a bare annotation means: the 9.3
#: package subclasses txsmarkets.client's `StreamingAPIClient` under the same name.
_BARE_NAMES = {"StreamingAPIClient": "txsmarkets.client.api.StreamingAPIClient"}
_BARE = re.compile(r"(?<![\w.])(" + "|".join(_BARE_NAMES) + r")\b")


def qualify_bare_names(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, return_annotation: str | None
) -> tuple[str | None, str | None]:
    """Give the module to a bare `_BARE_NAMES` name in a signature. Autodoc leaves an
    annotation it cannot evaluate (a name imported only for type checking) as written,
    and Sphinx then finds more than one class of that name to link to."""

    def qualify(text: str | None) -> str | None:
        return _BARE.sub(lambda match: _BARE_NAMES[match.group(1)], text) if text else text

    return qualify(signature), qualify(return_annotation)


#: A bare `_BARE_NAMES` name in single backticks, in a page or a docstring.
_BARE_REFERENCE = re.compile(r"(?<![`:\w])`(" + "|".join(_BARE_NAMES) + r")`(?!`)")


def _qualify_references(text: str) -> str:
    return _BARE_REFERENCE.sub(lambda match: f"`{match.group(1)} <{_BARE_NAMES[match.group(1)]}>`", text)


def qualify_bare_references_in_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    """A bare `_BARE_NAMES` name in a page's single backticks links to the class it means."""
    source[0] = _qualify_references(source[0])


def qualify_bare_references_in_docstrings(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """The same in a docstring autodoc reads."""
    lines[:] = [_qualify_references(line) for line in lines]


_NOT_FOUND = object()


@functools.cache
def _txsmarkets_modules() -> list[Any]:
    """Every public txsmarkets module, imported (once: an incremental build may have read
    none of the reference pages that import them)."""
    return [importlib.import_module(name) for name in public_modules("txsmarkets")]


def _python_object(name: str, module: str | None) -> Any:
    """What the dotted ``name`` is in Python, or `_NOT_FOUND`: its first part looked up in
    ``module``'s namespace (the docstring's module, if any), among the builtins and in the
    txsmarkets modules' namespaces; failing that, a dotted name is imported
    (``twisted.internet.task.Clock``). A bare name is never imported: `token` would be the
    standard library's module, where the text means a parameter."""
    first, *rest = name.split(".")
    namespaces = ([importlib.import_module(module)] if module else []) + [builtins, *_txsmarkets_modules()]
    found = next((getattr(space, first) for space in namespaces if hasattr(space, first)), _NOT_FOUND)
    if found is _NOT_FOUND and rest:
        # The longest importable prefix, then attributes.
        for cut in range(len(rest), -1, -1):
            try:
                found = importlib.import_module(".".join([first, *rest[:cut]]))
            except ImportError:
                continue
            rest = rest[cut:]
            break
    for part in rest:
        found = getattr(found, part, _NOT_FOUND)
    return found


def _defined_outside(target: str, module: str | None) -> bool:
    """Whether ``target`` names a module, class or function that txsmarkets does not
    define. A constant says nowhere where it was defined: it does not count."""
    found = _python_object(target, module)
    if found is _NOT_FOUND:
        return False
    where = found.__name__ if inspect.ismodule(found) else getattr(found, "__module__", None)
    return isinstance(where, str) and where.partition(".")[0] != "txsmarkets"


def outside_names_as_code(app: Sphinx, env: Any, node: nodes.Element, contnode: nodes.Element) -> nodes.Element | None:
    """A single-backtick name that Python finds outside txsmarkets is shown as code (see the
    module docstring); any other unresolved one is left to warn."""
    if node.get("reftype") == "any" and _defined_outside(node["reftarget"], node.get("py:module")):
        return contnode
    return None


class NearestPythonDomain(PythonDomain):
    """The Python domain, which takes a bare name that several packages define (``Event``,
    ``Market``, ``TokenBucket``) for the one nearest the text's own module: the longest
    dotted prefix in common. A page can say where it is with ``currentmodule``."""

    def find_obj(self, env: Any, modname: str | None, classname: str | None, name: str, type: str | None, searchmode: int = 0) -> Any:
        matches = super().find_obj(env, modname, classname, name, type, searchmode)
        if searchmode != 1 or len(matches) < 2 or not modname:
            return matches
        here = modname.split(".")

        def shared(match: Any) -> int:
            there = match[0].split(".")
            return next((i for i, (a, b) in enumerate(zip(here, there)) if a != b), min(len(here), len(there)))

        nearest = max(shared(match) for match in matches)
        return [match for match in matches if shared(match) == nearest]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_domain(NearestPythonDomain, override=True)
    app.connect("doctree-read", untested_docstring_examples)
    app.connect("autodoc-process-signature", qualify_bare_names)
    app.connect("source-read", qualify_bare_references_in_pages)
    app.connect("autodoc-process-docstring", qualify_bare_references_in_docstrings)
    app.connect("missing-reference", outside_names_as_code)
    app.add_directive("txsmarkets-modules", ModulesDirective)
    app.add_directive("txsmarkets-messages", MessagesDirective)
    app.add_directive("txsmarkets-options", OptionsDirective)
    app.add_directive("txsmarkets-exit-statuses", ExitStatusesDirective)
    return {"parallel_read_safe": True, "version": "1"}
