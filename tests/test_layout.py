"""The package's shape: import contracts, types, module sizes, and an editable install."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import unittest as pyunit

from twisted.trial import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "txsmarkets"
GENERATED = re.compile(r"_pb2\.pyi?$")


def _modules() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not GENERATED.search(p.name))


class ContractTests(unittest.TestCase):
    def test_import_contracts(self) -> None:
        """The layers, the helpers' independence and the absence of cycles (.importlinter)."""
        command = pathlib.Path(sys.executable).parent / "lint-imports"
        if not command.exists():
            raise pyunit.SkipTest("import-linter is not installed (pip install '.[test]')")
        run = subprocess.run(
            [str(command), "--config", str(ROOT / ".importlinter"), "--no-cache"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_mypy_clean(self) -> None:
        try:
            from mypy import api
        except ImportError:
            raise pyunit.SkipTest("mypy is not installed (pip install '.[test]')")
        out, err, status = api.run(["--config-file", str(ROOT / "setup.cfg"), "--no-incremental", str(PACKAGE)])
        self.assertEqual(status, 0, out + err)

    def test_no_module_over_600_lines(self) -> None:
        long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 600}
        self.assertEqual(long, {})

    def test_lower_layers_take_their_clock(self) -> None:
        """wire/ and session/ never import the reactor: a clock is injected."""
        pattern = re.compile(r"^\s*(from twisted\.internet import reactor|import twisted\.internet\.reactor)", re.M)
        offenders = [
            str(p.relative_to(ROOT))
            for layer in ("wire", "session")
            for p in (PACKAGE / layer).rglob("*.py")
            if pattern.search(p.read_text())
        ]
        self.assertEqual(offenders, [])


class EditableInstallTests(unittest.TestCase):
    def test_twistd_finds_both_plugins_from_anywhere(self) -> None:
        """After ``pip install -e .`` in a fresh venv, twistd lists both plugins from /tmp
        with no PYTHONPATH."""
        with tempfile.TemporaryDirectory() as folder:
            venv = pathlib.Path(folder) / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            python = venv / "bin" / "python"
            # The running environment's packages (Twisted, protobuf ...) are lent to the new
            # one, so that only txsmarkets itself is installed there.
            site = subprocess.run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                check=True, capture_output=True, text=True, timeout=60,
            ).stdout.strip()
            lent = [p for p in sys.path if p.endswith("site-packages")]
            pathlib.Path(site, "_lent.pth").write_text("\n".join(lent) + "\n")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
                check=True, timeout=300, env=env, capture_output=True,
            )
            listing = subprocess.run(
                [str(python), "-m", "twisted", "--help"],
                capture_output=True, text=True, timeout=120, env=env, cwd=folder,
            )
            self.assertIn("smarkets-exchange", listing.stdout)
            self.assertIn("smarkets-bridge", listing.stdout)
            self.assertRegex(listing.stdout, r"\n\s+smarkets\s")
            plugin = subprocess.run(
                [str(python), "-m", "twisted", "smarkets", "--help"],
                capture_output=True, text=True, timeout=120, env=env, cwd=folder,
            )
            self.assertEqual(plugin.returncode, 0, plugin.stderr)
            self.assertIn("--demo", plugin.stdout)
