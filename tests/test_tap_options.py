"""What the twistd plugins' options refuse before anything starts: an address that cannot
be connected to, a CA file that is no PEM certificate, an abbreviated option (which could
take a password for its file's name), and amounts of the exchange that cannot work. Each is
a `txsmarkets.process.SetupError`: one line and exit status 1."""

from __future__ import annotations

import os
from typing import Any

from twisted.python import usage
from twisted.trial import unittest

from tests.certs import make_certificates
from txsmarkets.bridge.tap import Options as BridgeOptions
from txsmarkets.client import tls_options
from txsmarkets.client.endpoints import check_host, load_ca_file
from txsmarkets.client.settings import SessionSettings
from txsmarkets.daemon.tap import Options
from txsmarkets.errors import Error
from txsmarkets.exchange.tap import Options as ExchangeOptions
from txsmarkets.process import SetupError


def parse(*args: str, options: type[usage.Options] = Options) -> Any:
    """``options`` (``twistd smarkets``'s by default) parsed from ``args``; the daemon logs
    in with SMARKETS_PASSWORD, which it takes out of the environment each time."""
    os.environ["SMARKETS_PASSWORD"] = "x"
    parsed = options()
    parsed.parseOptions(list(args))
    return parsed


class TapTestCase(unittest.SynchronousTestCase):
    """SMARKETS_PASSWORD put back as it was; a folder for files."""

    def setUp(self) -> None:
        saved = os.environ.pop("SMARKETS_PASSWORD", None)
        self.addCleanup(self._restore, saved)
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)

    def _restore(self, saved: str | None) -> None:
        os.environ.pop("SMARKETS_PASSWORD", None)
        if saved is not None:
            os.environ["SMARKETS_PASSWORD"] = saved

    def file(self, name: str, text: str | bytes) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return path

    def refused(self, *args: str, options: type[usage.Options] = Options) -> str:
        """The one line of the `SetupError` the options ``args`` raise."""
        error = self.assertRaises(SetupError, parse, *args, options=options)
        self.assertNotIn("\n", error.message)
        return error.message


class ConnectionOptionsTests(TapTestCase):
    """``twistd smarkets``: an address or CA file found wrong only once connecting would be
    retried for ever (or end in a traceback): refused at once instead."""

    def test_port_outside_1_to_65535(self) -> None:
        for port in ("0", "-5", "65536", "70000"):
            self.assertEqual(self.refused("--username", "me", "--port", port), f"--port must be in 1..65535, not {port}")
        for port in (1, 65535):
            self.assertEqual(parse("--username", "me", "--port", str(port))["settings"].port, port)

    def test_empty_host(self) -> None:
        self.assertEqual(self.refused("--username", "me", "--host", ""), "--host: the host name is empty")

    def test_host_that_is_no_dns_name(self) -> None:
        for host in ("no such host.invalid", "a..b", "x" * 64 + ".example"):
            line = self.refused("--username", "me", "--host", host)
            self.assertTrue(line.startswith(f"--host: {host!r} is no host name or IP address: "), line)
        for host in ("127.0.0.1", "::1", "localhost", "stream.example.", "bücher.example"):
            self.assertEqual(parse("--username", "me", "--host", host)["settings"].host, host)

    def test_ca_file_that_is_no_pem_certificate(self) -> None:
        for name, content in (("text.pem", "not a pem\n"), ("empty.pem", ""), ("cut.pem", "-----BEGIN CERTIFICATE-----\nxx\n")):
            path = self.file(name, content)
            self.assertEqual(self.refused("--username", "me", "--ca-file", path), f"the CA file {path!r} holds no PEM certificate")
        ca, _ = make_certificates(os.path.join(self.folder, "certs"), "localhost")
        self.assertEqual(parse("--username", "me", "--ca-file", ca)["settings"].ca_file, ca)

    def test_the_config_file_goes_through_the_same_checks(self) -> None:
        bad = self.file("bad.pem", "not a pem\n")
        for line, said in (
            ("port = 70000", "--port must be in 1..65535, not 70000"),
            ("port = 0", "--port must be in 1..65535, not 0"),
            ("host =", "--host: the host name is empty"),
            ("host = a b", "--host: 'a b' is no host name or IP address"),
            ("ca-file = bad.pem", f"the CA file {bad!r} holds no PEM certificate"),
        ):
            config = self.file("daemon.ini", f"[smarkets]\nusername = me\n{line}\n")
            self.assertIn(said, self.refused("--config", config), line)

    def test_tls_options_say_a_ca_file_is_no_pem_certificate(self) -> None:
        """The library's own `tls_options` raises its `txsmarkets.errors.Error` (not
        OpenSSL's) for a CA file that is no PEM certificate."""
        path = self.file("text.pem", "not a pem\n")
        error = self.assertRaises(Error, tls_options, SessionSettings("me", "pw", ca_file=path))
        self.assertEqual(str(error), f"the CA file {path!r} holds no PEM certificate")
        missing = os.path.join(self.folder, "missing.pem")
        error = self.assertRaises(Error, load_ca_file, missing)
        self.assertEqual(str(error), f"cannot read the CA file {missing!r}: No such file or directory")
        self.assertRaises(ValueError, check_host, "")


class SecretOptionsTests(TapTestCase):
    """A password typed on the command line is never shown: not taken for an abbreviated
    ``--password-file``, and not quoted from a secret file's option."""

    def test_a_secret_option_abbreviated_is_unknown(self) -> None:
        for args, option in (
            (("--password", "hunter2"), "--password-file"),
            (("--password=hunter2",), "--password-file"),
            (("--pass", "hunter2"), "--password-file"),
            (("--token", "hunter2"), "--token-file"),
            (("--token-fil=hunter2",), "--token-file"),
        ):
            line = self.refused("--username", "me", *args)
            self.assertEqual(line, f"unknown option {args[0].partition('=')[0]} (did you mean {option}?)")

    def test_no_option_of_the_plugins_is_abbreviated(self) -> None:
        self.assertEqual(self.refused("--user", "me"), "unknown option --user (did you mean --username?)")
        self.assertEqual(
            self.refused("--max", "3", options=ExchangeOptions),
            "unknown option --max (did you mean --max-connections, --max-output-buffer or --max-pending?)",
        )
        self.assertEqual(
            self.refused("--up", "http://127.0.0.1:1/v3/", options=BridgeOptions),
            "unknown option --up (did you mean --upstream?)",
        )
        # Misspelt rather than cut short: getopt's error, with the nearest name, as before.
        self.assertEqual(self.refused("--stategy", "x:Y"), "unknown option --stategy (did you mean --strategy?)")

    def test_values_that_look_like_options_are_values(self) -> None:
        """The walk is getopt's: the value of an option, long or short, is not an option,
        and neither is anything after ``--``."""
        self.assertEqual(parse("--username", "--pass")["settings"].username, "--pass")
        self.assertEqual(parse("-u", "--pass")["settings"].username, "--pass")
        self.assertEqual(parse("-u--pass")["settings"].username, "--pass")
        self.assertEqual(parse("--username=--pass", "--no-tls")["settings"].username, "--pass")
        self.assertIn("Wrong number of arguments", self.refused("--username", "me", "--", "--pass"))

    def test_a_secret_file_s_value_is_never_quoted(self) -> None:
        empty = self.file("empty", "")
        binary = self.file("binary", b"\xffhunter2\n")
        for args, said in (
            (("--username", "me", "--password-file", "hunter2"), "cannot read the file of --password-file: No such file or directory"),
            (("--token-file", "hunter2"), "cannot read the file of --token-file: No such file or directory"),
            (("--username", "me", "--password-file", empty), "the file of --password-file is empty"),
            (("--username", "me", "--password-file", binary), "the file of --password-file is not UTF-8 text"),
        ):
            self.assertEqual(self.refused(*args), said)
        config = self.file("daemon.ini", "[smarkets]\nusername = me\npassword-file = hunter2\n")
        line = self.refused("--config", config)
        self.assertNotIn("hunter2", line)
        self.assertIn("--password-file", line)


class ExchangeAmountsTests(TapTestCase):
    """``twistd smarkets-exchange``: amounts that no exchange works with are refused."""

    def test_amounts_must_be_above_zero(self) -> None:
        for name in ("heartbeat-interval", "max-output-buffer", "max-connections", "max-pending", "throttle-rate", "throttle-burst"):
            for value in ("0", "-1"):
                line = self.refused(f"--{name}", value, options=ExchangeOptions)
                self.assertTrue(line.startswith(f"--{name} must be above 0, not "), line)
        self.assertEqual(
            self.refused("--heartbeat-interval", "nan", options=ExchangeOptions), "--heartbeat-interval must be above 0, not nan"
        )
        self.assertEqual(
            self.refused("--heartbeat-interval", "inf", options=ExchangeOptions),
            "--heartbeat-interval must be a finite number, not inf",
        )

    def test_a_resume_window_of_zero_resumes_nothing(self) -> None:
        """0 means something (a dropped session ends at once); less does not."""
        self.assertEqual(parse("--resume-window", "0", options=ExchangeOptions)["resume-window"], 0.0)
        self.assertEqual(
            self.refused("--resume-window", "-1", options=ExchangeOptions), "--resume-window must be 0 or more, not -1.0"
        )

    def test_the_defaults_and_small_amounts_are_taken(self) -> None:
        options = parse(
            "--heartbeat-interval", "0.5", "--max-connections", "1", "--max-pending", "1", "--max-output-buffer", "1",
            "--throttle-rate", "1", "--throttle-burst", "1", options=ExchangeOptions,
        )  # fmt: skip
        self.assertEqual((options["heartbeat-interval"], options["max-connections"]), (0.5, 1))
        parse(options=ExchangeOptions)

    def test_paper_amounts_must_be_finite_too(self) -> None:
        line = self.refused("--paper", "http://127.0.0.1:1/v3/", "--markets", "1", "--poll-interval", "inf", options=ExchangeOptions)
        self.assertEqual(line, "--poll-interval must be a finite number, not inf")
