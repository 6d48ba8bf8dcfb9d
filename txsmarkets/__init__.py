"""txsmarkets: a Twisted client, daemon and embedded exchange for the Smarkets streaming API."""

__version__ = "0.1.0"
