"""``twistd smarkets``: the session as a long-lived service hosting a strategy."""
