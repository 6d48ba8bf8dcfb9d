"""`ConfigurationReader`: .ini files that inherit from one another, spread over directories.

A file names its parent like this::

    [inherit]
    from=other.conf

and a file name may stand in several of the reader's directories. Every copy is read,
parents before children and, for one name, the later directories first, so that what the
first directory says wins. With B.conf inheriting from A.conf, and the directories
``['/etc/conf', '/home/conf']`` holding /etc/conf/B.conf, /home/conf/A.conf and
/home/conf/B.conf, the files are read in this order: /home/conf/A.conf,
/home/conf/B.conf, /etc/conf/B.conf.
"""

from __future__ import annotations

import configparser
import os
from typing import Sequence

from txsmarkets.errors import Error

__all__ = ["ConfigurationError", "ConfigurationReader"]

_INHERIT_SECTION = "inherit"
_INHERIT_OPTION = "from"


class ConfigurationError(Error, ValueError):
    """A configuration cannot be read: a file is missing, or inheritance loops."""


class ConfigurationReader:
    """Reads a configuration made of inheriting .ini files found in ``directories``.

    ``parser_class`` makes the configuration objects that `read` returns; it is also what
    reads each file to find its parent.
    """

    def __init__(
        self,
        directories: Sequence[str | os.PathLike[str]],
        parser_class: type[configparser.RawConfigParser] = configparser.ConfigParser,
    ) -> None:
        if isinstance(directories, (str, bytes, os.PathLike)):
            # one directory given bare would otherwise be read as a list of letters
            raise TypeError("directories must be a sequence of directories, not one path")
        self.directories = [os.fspath(directory) for directory in directories]
        self.parser_class = parser_class

    def read(self, filename: str) -> configparser.RawConfigParser:
        """Read the configuration ``filename`` into a new ``parser_class`` object."""
        config = self.parser_class()
        self.read_into(filename, config)
        return config

    def read_into(self, filename: str, config: configparser.RawConfigParser) -> None:
        """Read the configuration ``filename`` into ``config``, over what it already holds."""
        for path in self.paths(filename):
            with open(path, encoding="utf-8") as stream:
                config.read_file(stream, source=path)

    def paths(self, filename: str) -> list[str]:
        """The files that make up the configuration ``filename``, in the order they are read."""
        chain: list[str] = []
        paths: list[str] = []
        name: str | None = filename
        while name is not None:
            # so that 'a.conf' and './a.conf' are seen to be one file in a loop
            name = os.path.normpath(name)
            if name in chain:
                loop = " -> ".join(chain[chain.index(name):] + [name])
                raise ConfigurationError(f"configuration files inherit in a loop: {loop}")
            copies = self._copies(name)
            if not copies:
                where = ", ".join(self.directories) or "(no directories)"
                if chain:
                    raise ConfigurationError(
                        f"{chain[-1]!r} inherits from {name!r}, which is in none of: {where}"
                    )
                raise ConfigurationError(f"{name!r} is in none of: {where}")
            chain.append(name)
            # the later directories are read first, so that the first has the last word
            copies.reverse()
            paths[:0] = copies
            name = self._parent(copies)
        return paths

    def _copies(self, name: str) -> list[str]:
        candidates = (os.path.join(directory, name) for directory in self.directories)
        return [path for path in candidates if os.path.isfile(path)]

    def _parent(self, copies: list[str]) -> str | None:
        # The parent is whatever the copies, read together, say it is.
        config = self.parser_class()
        for path in copies:
            with open(path, encoding="utf-8") as stream:
                config.read_file(stream, source=path)
        if not config.has_option(_INHERIT_SECTION, _INHERIT_OPTION):
            return None
        parent = config.get(_INHERIT_SECTION, _INHERIT_OPTION, raw=True).strip()
        return parent or None
