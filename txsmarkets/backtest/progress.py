"""`ProgressBar`: how far a backtest is, on a terminal: done, rate, time left.

The bar is `txsmarkets.progress`'s (the journal reader draws the same one); its names are
kept here for the backtest's users.
"""

from __future__ import annotations

from txsmarkets.progress import ProgressBar, for_stream

__all__ = ["ProgressBar", "for_stream"]
