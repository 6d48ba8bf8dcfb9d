"""Sweeps: one backtest per combination of strategy parameters, on a process pool or a
Dask cluster, ranked by P&L.

`grid` makes the combinations from ``{name: [values]}``; `run_sweep` runs
`txsmarkets.backtest.run_backtest <txsmarkets.backtest.runner.run_backtest>` once per
combination with the same other arguments, locally in a
`concurrent.futures.ProcessPoolExecutor` (``workers``, default the CPUs) or, given
``dask`` (a scheduler address such as ``tcp://10.0.0.5:8786`` or a
``distributed.Client``), on the workers of a Dask cluster (the optional extra
``txsmarkets[cluster]``); each worker needs txsmarkets, the strategy's module and read
access to a replay's recording. `rank` orders the reports by P&L, best first.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from txsmarkets.backtest.report import Report
from txsmarkets.backtest.runner import run_backtest
from txsmarkets.strategy import param_value, split_param

__all__ = ["grid", "parse_param", "rank", "run_sweep"]


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``NAME=V1,V2,...`` as (name, values), each value read by
    `txsmarkets.strategy.param_value` as `txsmarkets.strategy.parse_params` reads a single
    value; ValueError when it is not of that form or gives no value."""
    form = "NAME=V1,V2,..."
    name, values = split_param(text, form)
    parsed = [param_value(v) for v in values.split(",") if v.strip()]
    if not parsed:
        raise ValueError(f"a parameter is given as {form}, not {text!r}")
    return name, parsed


def grid(params: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``params``' values, the last name varying fastest."""
    names = list(params)
    return [dict(zip(names, values)) for values in itertools.product(*(params[n] for n in names))]


def rank(reports: Iterable[Report]) -> list[Report]:
    """The reports by marked-to-market P&L, best first (a tie keeps the grid's order)."""
    return sorted(reports, key=lambda report: report.pnl, reverse=True)


def _one(arguments: dict[str, Any]) -> Report:
    """One run of a sweep, in a worker: the series and progress stay home."""
    return run_backtest(**arguments)


def run_sweep(
    strategy: str,
    combinations: Sequence[Mapping[str, Any]],
    *,
    workers: int | None = None,
    dask: Any = None,
    log_level: str | None = None,
    **arguments: Any,
) -> list[Report]:
    """A `Report` for each of ``combinations`` (strategy params, as `grid` makes them), in
    their order; ``arguments`` are the other keywords of `run_backtest`, the same for all.

    ``strategy`` is ``"module:Class"`` (the workers import it). ``workers``: processes in
    the local pool (None: the CPUs; 1: one after another in this process). ``dask``: a
    scheduler address or a ``distributed.Client``; the runs go to its workers instead.
    ``log_level``: the pool's workers write their log to their stderr from that level up
    (`txsmarkets.backtest.logs.LEVELS`; None: only critical events, as Twisted does before
    logging begins); a run in this process logs to this process's observers.
    """
    runs = [dict(arguments, strategy=strategy, params=dict(params)) for params in combinations]
    if dask is not None:
        return _on_dask(dask, runs)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count <= 1 or len(runs) <= 1:
        return [_one(run) for run in runs]
    # Started afresh, not forked: a forked worker would inherit this process's log
    # observers, which may write to pipes that this process alone may write to (a test
    # runner's, say), and each worker begins its own log instead.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(count, len(runs)), mp_context=context, initializer=_begin_log, initargs=(log_level,)
    )
    with pool:
        return list(pool.map(_one, runs))


def _begin_log(level: str | None) -> None:
    """A pool worker's log: to its stderr from ``level`` up, with the wall time."""
    if level is not None:
        from twisted.logger import globalLogBeginner

        from txsmarkets.backtest.logs import log_observer

        globalLogBeginner.beginLoggingTo([log_observer(sys.stderr, level, None)], redirectStandardIO=False)


def _on_dask(dask: Any, runs: list[dict[str, Any]]) -> list[Report]:
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "--dask needs distributed (the cluster extra: pip install -e '.[cluster]' in a clone of the repository)"
        ) from None
    client = dask if isinstance(dask, Client) else Client(dask)
    try:
        # pure=False: two runs of the same arguments are two runs, not one cached result.
        futures = client.map(_one, runs, pure=False)
        results: list[Report] = client.gather(futures)
        return results
    finally:
        if client is not dask:
            client.close()
