"""Tests for txsmarkets.configuration.ConfigurationReader."""

from __future__ import annotations

import configparser
import os

from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.configuration import ConfigurationError, ConfigurationReader
from txsmarkets.errors import Error


class ConfigurationReaderTests(SynchronousTestCase):
    def setUp(self) -> None:
        base = self.mktemp()
        self.etc = os.path.join(base, "etc", "conf")
        self.home = os.path.join(base, "home", "conf")
        os.makedirs(self.etc)
        os.makedirs(self.home)

    def write(self, directory: str, name: str, text: str) -> str:
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return path

    def test_docs_example_order(self) -> None:
        """The 9.3 docs' example: parents first, then later directories first."""
        etc_b = self.write(self.etc, "B.conf", "[s]\nwho = etc B\n")
        home_a = self.write(self.home, "A.conf", "[s]\nwho = home A\nonly_a = 1\n")
        home_b = self.write(self.home, "B.conf", "[inherit]\nfrom = A.conf\n[s]\nwho = home B\n")
        reader = ConfigurationReader([self.etc, self.home])
        self.assertEqual(reader.paths("B.conf"), [home_a, home_b, etc_b])
        config = reader.read("B.conf")
        self.assertIsInstance(config, configparser.ConfigParser)
        self.assertEqual(config.get("s", "who"), "etc B")
        self.assertEqual(config.get("s", "only_a"), "1")

    def test_first_directory_wins(self) -> None:
        self.write(self.etc, "x.conf", "[s]\nk = etc\n")
        self.write(self.home, "x.conf", "[s]\nk = home\nh = 1\n")
        config = ConfigurationReader([self.etc, self.home]).read("x.conf")
        self.assertEqual(config.get("s", "k"), "etc")
        self.assertEqual(config.get("s", "h"), "1")
        config = ConfigurationReader([self.home, self.etc]).read("x.conf")
        self.assertEqual(config.get("s", "k"), "home")

    def test_child_overrides_parent(self) -> None:
        self.write(self.home, "base.conf", "[s]\nk = base\nkept = yes\n")
        self.write(self.home, "mid.conf", "[inherit]\nfrom=base.conf\n[s]\nk = mid\n")
        self.write(self.home, "top.conf", "[inherit]\nfrom=mid.conf\n[t]\nx = 1\n")
        config = ConfigurationReader([self.home]).read("top.conf")
        self.assertEqual(config.get("s", "k"), "mid")
        self.assertEqual(config.get("s", "kept"), "yes")
        self.assertEqual(config.get("t", "x"), "1")

    def test_parent_across_directories(self) -> None:
        """The parent is looked for in every directory, like the file itself."""
        self.write(self.etc, "A.conf", "[s]\na = etc\n")
        self.write(self.home, "B.conf", "[inherit]\nfrom=A.conf\n")
        config = ConfigurationReader([self.etc, self.home]).read("B.conf")
        self.assertEqual(config.get("s", "a"), "etc")

    def test_read_into(self) -> None:
        self.write(self.home, "x.conf", "[s]\nk = file\n")
        config = configparser.ConfigParser()
        config.read_string("[s]\nk = before\nother = kept\n")
        ConfigurationReader([self.home]).read_into("x.conf", config)
        self.assertEqual(config.get("s", "k"), "file")
        self.assertEqual(config.get("s", "other"), "kept")

    def test_parser_class(self) -> None:
        self.write(self.home, "x.conf", "[s]\nk = 100%\n")
        reader = ConfigurationReader([self.home], parser_class=configparser.RawConfigParser)
        config = reader.read("x.conf")
        self.assertIs(type(config), configparser.RawConfigParser)
        self.assertEqual(config.get("s", "k"), "100%")

    def test_not_found(self) -> None:
        reader = ConfigurationReader([self.etc, self.home])
        error = self.assertRaises(ConfigurationError, reader.read, "missing.conf")
        self.assertIn("'missing.conf'", str(error))
        self.assertIn(self.etc, str(error))
        self.assertIn(self.home, str(error))

    def test_missing_parent(self) -> None:
        self.write(self.home, "B.conf", "[inherit]\nfrom = A.conf\n")
        reader = ConfigurationReader([self.home])
        error = self.assertRaises(ConfigurationError, reader.read, "B.conf")
        self.assertIn("'B.conf' inherits from 'A.conf'", str(error))

    def test_loop(self) -> None:
        self.write(self.home, "a.conf", "[inherit]\nfrom = b.conf\n")
        self.write(self.etc, "b.conf", "[inherit]\nfrom = c.conf\n")
        self.write(self.home, "c.conf", "[inherit]\nfrom = ./a.conf\n")
        reader = ConfigurationReader([self.etc, self.home])
        error = self.assertRaises(ConfigurationError, reader.read, "a.conf")
        self.assertIn("a.conf -> b.conf -> c.conf -> a.conf", str(error))

    def test_self_loop(self) -> None:
        self.write(self.home, "a.conf", "[inherit]\nfrom = a.conf\n")
        reader = ConfigurationReader([self.home])
        error = self.assertRaises(ConfigurationError, reader.read, "a.conf")
        self.assertIn("a.conf -> a.conf", str(error))

    def test_error_classes(self) -> None:
        self.assertTrue(issubclass(ConfigurationError, Error))
        self.assertTrue(issubclass(ConfigurationError, ValueError))

    def test_one_path_is_not_directories(self) -> None:
        self.assertRaises(TypeError, ConfigurationReader, self.home)
