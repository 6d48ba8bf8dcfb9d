"""Backtests: a strategy, unchanged, against simulated or recorded markets, in virtual time.

``python -m txsmarkets.backtest --strategy mod:Class --simulate`` (or ``--replay DIR``)
runs it from the command line; `run_backtest` is the same from Python and returns a
`Report`; `run_sweep` runs a grid of parameters on a process pool or a Dask cluster. See
the guide, ``docs/guides/backtests.rst``.
"""

from txsmarkets.backtest.report import MarketFigures, Report
from txsmarkets.backtest.runner import DEFAULT_DURATION, BacktestError, load_controls, run_backtest
from txsmarkets.backtest.sweep import grid, rank, run_sweep

__all__ = [
    "DEFAULT_DURATION",
    "BacktestError",
    "MarketFigures",
    "Report",
    "grid",
    "load_controls",
    "rank",
    "run_backtest",
    "run_sweep",
]
