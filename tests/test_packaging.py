"""The sdist and the wheel: what they hold, and that building them warns of nothing deprecated.

Both are built from a copy of the checkout (so that a build running beside other tests
writes nothing into it) with ``python -m build --no-isolation``: the sdist first, then the
wheel from the unpacked sdist, as pip does; no network is used.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass

from twisted.trial import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Folders the sdist carries whole, because the suite, the docs or the examples need them.
SHIPPED_FOLDERS = ("tests", "bench", "protos", "docs", "examples")
#: Single files the sdist must hold.
SHIPPED_FILES = ("LICENSE", "README.rst", "CHANGES.rst", "setup.cfg", "pyproject.toml", ".importlinter", "MANIFEST.in")
#: What is made while working, never shipped.
_SCRATCH = {"__pycache__", "_build", ".hypothesis"}


def _source_files(folder: str) -> set[str]:
    """The files of ``folder`` in the checkout, as paths relative to it."""
    found = set()
    for path in (ROOT / folder).rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and not parts & _SCRATCH and not path.name.startswith("_trial_temp") and path.suffix != ".pyc":
            found.add(str(path.relative_to(ROOT)))
    return found


def _ignore(directory: str, names: list[str]) -> set[str]:
    skip = {".venv", ".git", "build", "dist", "_build", "__pycache__", ".hypothesis", ".mypy_cache"}
    return {n for n in names if n in skip or n.startswith("_trial_temp") or n.endswith(".egg-info") or n.endswith(".pyc")}


@dataclass
class Built:
    """An sdist and a wheel built from a copy of the checkout, and what the build printed."""

    sdist: pathlib.Path
    wheel: pathlib.Path
    log: str


_built: list[Built] = []
_scratch: list[tempfile.TemporaryDirectory[str]] = []


def built() -> Built:
    """The one build of this process (trial has no setUpClass; a build takes seconds)."""
    if not _built:
        folder = tempfile.TemporaryDirectory()
        _scratch.append(folder)
        atexit.register(folder.cleanup)
        scratch = pathlib.Path(folder.name)
        tree = scratch / "tree"
        shutil.copytree(ROOT, tree, ignore=_ignore, symlinks=True)
        out = scratch / "dist"
        env = dict(os.environ, PYTHONWARNINGS="always")
        result = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
            capture_output=True, text=True, timeout=300, env=env,
        )
        log = result.stdout + result.stderr
        if result.returncode:
            raise AssertionError(f"the build failed:\n{log[-4000:]}")
        (sdist,) = out.glob("*.tar.gz")
        (wheel,) = out.glob("*.whl")
        _built.append(Built(sdist, wheel, log))
    return _built[0]


class PackagingTests(unittest.TestCase):
    def setUp(self) -> None:
        build = built()
        self.sdist, self.wheel, self.log = build.sdist, build.wheel, build.log

    def sdist_names(self) -> set[str]:
        with tarfile.open(self.sdist) as archive:
            top = self.sdist.name[: -len(".tar.gz")] + "/"
            return {m.name[len(top) :] for m in archive.getmembers() if m.isfile()}

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return set(archive.namelist())

    def test_no_deprecation_warnings(self) -> None:
        """Neither build step warns of anything deprecated (the licence is an SPDX expression)."""
        lines = [line for line in self.log.splitlines() if "deprecat" in line.lower()]
        self.assertEqual(lines, [])

    def test_sdist_holds_what_the_tests_need(self) -> None:
        names = self.sdist_names()
        for name in SHIPPED_FILES:
            self.assertIn(name, names)
        for folder in SHIPPED_FOLDERS:
            expected = _source_files(folder)
            self.assertTrue(expected, folder)
            self.assertEqual(sorted(expected - names), [], f"missing from the sdist under {folder}/")
        self.assertIn("tests/conformance/README.rst", names)
        self.assertIn("tests/data/golden-frames.tsv", names)
        self.assertFalse([n for n in names if n.endswith(".pyc") or "/_build/" in n])

    def test_license_everywhere(self) -> None:
        licence = (ROOT / "LICENSE").read_text()
        self.assertIn("MIT License", licence)
        self.assertIn("Copyright (c) 2026 the txsmarkets authors", licence)
        with zipfile.ZipFile(self.wheel) as archive:
            (info,) = {n.split("/")[0] for n in archive.namelist() if n.endswith(".dist-info/METADATA")}
            self.assertEqual(archive.read(f"{info}/licenses/LICENSE").decode(), licence)
            metadata = archive.read(f"{info}/METADATA").decode()
        self.assertIn("\nLicense-Expression: MIT\n", metadata)
        self.assertIn("\nLicense-File: LICENSE\n", metadata)
        # A licence classifier beside an expression is deprecated (PEP 639).
        self.assertNotIn("Classifier: License ::", metadata)
        with tarfile.open(self.sdist) as archive:
            top = self.sdist.name[: -len(".tar.gz")]
            member = archive.extractfile(f"{top}/LICENSE")
            assert member is not None
            self.assertEqual(member.read().decode(), licence)

    def test_wheel_holds_the_package_and_its_data(self) -> None:
        names = self.wheel_names()
        for name in (
            "txsmarkets/__init__.py",
            "txsmarkets/py.typed",
            "txsmarkets/exchange/demo.json",
            "txsmarkets/wire/seto_pb2.py",
            "txsmarkets/wire/seto_pb2.pyi",
            "twisted/plugins/smarkets_plugin.py",
            "twisted/plugins/smarkets_exchange_plugin.py",
            "twisted/plugins/smarkets_bridge_plugin.py",
        ):
            self.assertIn(name, names)
        modules = {
            str(p.relative_to(ROOT)) for p in (ROOT / "txsmarkets").rglob("*.py") if "__pycache__" not in p.parts
        }
        self.assertEqual(sorted(modules - names), [])
        # The suite, the docs and the examples are the sdist's, not the installed package's.
        self.assertFalse([n for n in names if n.split("/")[0] in SHIPPED_FOLDERS])
