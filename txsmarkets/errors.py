"""The base of every txsmarkets error, and `swallow`."""

from __future__ import annotations


class Error(Exception):
    """Base class for every txsmarkets error."""
