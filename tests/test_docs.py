"""The documentation site: it builds with warnings as errors, its examples pass as doctests,
and the reference covers every public module.

Both builds share one doctree folder, so the doctest run reads nothing twice.
"""

from __future__ import annotations

import atexit
import html
import os
import pathlib
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile

from twisted.trial import unittest

import txsmarkets

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_built: dict[str, tuple[int, str]] = {}
_folders: list[str] = []


def _scratch() -> pathlib.Path:
    if not _folders:
        folder = tempfile.mkdtemp(prefix="txsmarkets-docs-")
        _folders.append(folder)
        atexit.register(shutil.rmtree, folder, True)
    return pathlib.Path(_folders[0])


def build(builder: str) -> tuple[int, str]:
    """``sphinx-build -W -b BUILDER docs OUT`` once per process: the exit status and output."""
    if builder not in _built:
        scratch = _scratch()
        result = subprocess.run(
            [
                sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
                "-d", str(scratch / "doctrees"), str(DOCS), str(scratch / builder),
            ],
            capture_output=True, text=True, timeout=300, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        _built[builder] = (result.returncode, result.stdout + result.stderr)
    return _built[builder]


def public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(txsmarkets.__path__, "txsmarkets."):
        if info.name.endswith("_pb2") or any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return names


class DocsTests(unittest.TestCase):
    def html(self) -> pathlib.Path:
        status, output = build("html")
        self.assertEqual(status, 0, output[-6000:])
        return _scratch() / "html"

    def test_html_builds_without_warnings(self) -> None:
        out = self.html()
        for page in (
            "index", "getting-started",
            "concepts/session", "concepts/requests", "concepts/views", "concepts/prices", "concepts/reactor",
            "guides/strategies", "guides/controls", "guides/daemon", "guides/exchange", "guides/backtests",
            "guides/testing", "guides/porting", "guides/http", "reference/http_api",
            "reference/api", "reference/messages", "reference/protocol", "reference/changelog",
        ):
            self.assertTrue((out / f"{page}.html").is_file(), page)

    def test_examples_pass_as_doctests(self) -> None:
        status, output = build("doctest")
        self.assertEqual(status, 0, output[-6000:])
        report = (_scratch() / "doctest" / "output.txt").read_text()
        # The last count is the total, after one per document.
        tests = int(re.findall(r"(\d+) tests", report)[-1])
        self.assertGreater(tests, 100)
        self.assertIn("0 failures in tests", report)

    def test_reference_covers_every_public_module(self) -> None:
        out = self.html()
        text = "".join(p.read_text() for p in (out / "reference").glob("*.html"))
        missing = [name for name in public_modules() if f'id="module-{name}"' not in text]
        self.assertEqual(missing, [])
        self.assertIn('id="module-txsmarkets"', text)

    def test_messages_table_lists_every_name(self) -> None:
        from txsmarkets.wire.messages import ALL_NAMES

        page = (self.html() / "reference" / "messages.html").read_text()
        self.assertEqual(sorted(n for n in ALL_NAMES if f"<span class=\"pre\">{n}</span>" not in page), [])
        self.assertTrue("seto.OrderAccepted" in page)

    def test_protocol_notes_and_changelog(self) -> None:
        out = self.html()
        self.assertTrue("Only the client answers heartbeats" in (out / "reference" / "protocol.html").read_text())
        changelog = (out / "reference" / "changelog.html").read_text()
        self.assertTrue('id="unreleased"' in changelog and "The journal reader" in changelog)
        # README points at the notes it no longer holds.
        self.assertIn("docs/reference/protocol.rst", (ROOT / "README.rst").read_text())

    def test_single_backtick_names_are_cross_references(self) -> None:
        """`Name` links to the reference (the default role), never renders as italics, and a
        name from outside txsmarkets is shown as code."""
        out = self.html()
        page = (out / "guides" / "strategies.html").read_text()
        for name, module in (("MarketBook", "state"), ("LiveOrder", "state"), ("StreamingAPIClient", "api")):
            link = rf'<a class="reference internal" href="\.\./reference/client\.html#txsmarkets\.client\.{module}\.{name}"'
            self.assertTrue(re.search(link + rf'[^>]*><code class="xref any[^"]*"><span class="pre">{name}</span>', page), name)
        italic = sorted(str(p.relative_to(out)) for p in out.rglob("*.html") if "<cite>" in p.read_text())
        self.assertEqual(italic, [])
        prices = (out / "concepts" / "prices.html").read_text()
        self.assertIn('<code class="xref any docutils literal notranslate"><span class="pre">Decimal</span></code>', prices)

    def test_exit_statuses_and_options_from_the_code(self) -> None:
        from txsmarkets.daemon.service import EXIT_STATUSES
        from txsmarkets.daemon.tap import Options

        page = (self.html() / "guides" / "daemon.html").read_text()
        missing = [meaning for _, meaning in EXIT_STATUSES if meaning.split(" (")[0] not in page]
        missing += [f"--{flag[0]}" for flag in Options.optFlags if f"--{flag[0]}" not in page]
        missing += [f"--{p[0]}=" for p in Options.optParameters if f"--{p[0]}=" not in page]  # type: ignore[index]
        self.assertEqual(missing, [])

    def test_getting_started_includes_the_readme_setup(self) -> None:
        """The set-up is written once, in README.rst, and the docs include it."""
        page = (self.html() / "getting-started.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))  # code blocks are highlighted span by span
        for command in (*README_COMMANDS, "not on the package index"):
            self.assertTrue(command in text, command)


#: The two set-up commands of README.rst: the demo, and the tests (CI's command).
README_COMMANDS = (
    "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/twistd -n smarkets --demo",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m twisted.trial tests",
)


class ReadmeTests(unittest.SynchronousTestCase):
    """README.rst is the door: what txsmarkets is, two set-up commands, a short example and
    links into the docs, which hold the rest."""

    def setUp(self) -> None:
        self.readme = (ROOT / "README.rst").read_text()

    def test_two_setup_commands(self) -> None:
        self.assertEqual(tuple(re.findall(r"^    (python3 -m venv .*)$", self.readme, re.M)), README_COMMANDS)

    def test_ci_runs_the_readme_test_command(self) -> None:
        ci = ROOT / ".ci" / "run"
        if not ci.exists():
            raise unittest.SkipTest("no .ci/run here (an unpacked sdist)")
        self.assertTrue(any(line.startswith(README_COMMANDS[1] + " ") for line in ci.read_text().splitlines()))

    def test_links_into_the_docs(self) -> None:
        targets = re.findall(r"^__ (\S+)$", self.readme, re.M)
        self.assertIn("docs/guides/daemon.rst", targets)
        self.assertEqual([t for t in targets if not (ROOT / t).is_file()], [])

    def test_short(self) -> None:
        """The manual lives in the docs: the README stays a page."""
        self.assertLess(len(self.readme), 8000)

    def test_install_hints_name_no_package_index(self) -> None:
        """txsmarkets is not on the package index: no hint tells pip to fetch it from there
        (``pip install txsmarkets[metrics]``); they install from a clone or a git URL."""
        hint = re.compile(r"pip\s+install\s+['\"]?txsmarkets\b(?!\S* @ git\+)")
        files = [ROOT / "README.rst", ROOT / "examples" / "README.rst", *(ROOT / "docs").rglob("*.rst")]
        files += [*(ROOT / "txsmarkets").rglob("*.py"), *(ROOT / "examples").glob("*.py"), *(ROOT / "bench").glob("*.py")]
        found = [f"{path.relative_to(ROOT)}: {m.group(0)}" for path in files for m in hint.finditer(path.read_text())]
        self.assertEqual(found, [])


def included_examples() -> list[tuple[str, str, str]]:
    """``(page, example, text shown)`` of every ``literalinclude`` of a whole example (not
    one ``:pyobject:``) in the docs, as Sphinx's reader of the directive reads it."""
    from sphinx.config import Config
    from sphinx.directives.code import LiteralIncludeReader

    directive = re.compile(r"^\.\. literalinclude:: (\S+/examples/\S+\.py)\n((?:   :[^\n]*\n)*)", re.M)
    found = []
    for page in sorted(DOCS.rglob("*.rst")):
        for match in directive.finditer(page.read_text()):
            options = dict(re.findall(r"^   :([\w-]+):[ ]?(.*)$", match.group(2), re.M))
            if "pyobject" in options:
                continue
            example = (page.parent / match.group(1)).resolve()
            text, _ = LiteralIncludeReader(str(example), options, Config()).read()
            found.append((str(page.relative_to(ROOT)), example.name, text))
    return found


def unbound_names(source: str) -> list[str]:
    """The global names ``source`` reads and neither binds nor gets from builtins: what
    would raise NameError if it ran alone."""
    import builtins
    import symtable

    top = symtable.symtable(source, "<fragment>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    read: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                read.add(symbol.get_name())
    return sorted(name for name in read - bound if not hasattr(builtins, name))


class IncludedExamplesTests(unittest.SynchronousTestCase):
    def test_included_examples_run_as_shown(self) -> None:
        """An example the docs show whole (or from a marker) binds every name it reads: a
        reader who copies it gets no NameError. Markers, not line numbers, say where the
        shown part starts, so that it cannot drift."""
        included = included_examples()
        self.assertIn("http_quickstart.py", [example for _, example, _ in included])
        unbound = [(page, example, unbound_names(text)) for page, example, text in included]
        self.assertEqual([entry for entry in unbound if entry[2]], [])


class PydocTests(unittest.SynchronousTestCase):
    def test_client_attributes_in_pydoc(self) -> None:
        """``pydoc txsmarkets.client`` shows what a client keeps, not only its methods."""
        import pydoc

        import txsmarkets.client

        text = pydoc.render_doc(txsmarkets.client, renderer=getattr(pydoc, "plaintext"))  # plain: no overstrike
        client = text[text.index("class StreamingAPIClient") :]
        for name in ("markets", "account", "subscriptions", "clock", "logged_in", "session", "controls"):
            self.assertIn(f"``{name}``", client, name)
        for error in ("ConnectionLost", "RequestTimeout", "SessionClosed"):
            self.assertIn(error, client)

    def test_book_docstrings_say_what_and_in_what_units(self) -> None:
        from txsmarkets.client.state import AccountState, ContractBook, LiveOrder

        for name in ("best_bid", "best_offer", "bids", "offers", "None", "hundredths of a percent"):
            self.assertIn(name, " ".join((ContractBook.__doc__ or "").split()))
        self.assertIn("ten-thousandths of a pound", LiveOrder.__doc__ or "")
        self.assertIn("Decimal", AccountState.__doc__ or "")
