"""The command line of ``python -m txsmarkets.backtest``.

One backtest prints its report (text, or one JSON object with ``--json``); with
``--param`` a sweep runs every combination and prints them ranked by P&L (with
``--json``: one JSON object, ``{"runs": [report, ...]}``, best first). A run that cannot
start exits with status 2 and one line saying why. ``--log-level LEVEL`` (``-v``: info)
writes the strategy's and txsmarkets' log to stderr (`txsmarkets.backtest.logs`); without
it only critical events (a strategy's hook that raised) are written.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from txsmarkets.backtest.latency import FORMS
from txsmarkets.backtest.logs import LEVELS, log_observer, logging_to
from txsmarkets.backtest.report import Report, money
from txsmarkets.backtest.runner import run_backtest
from txsmarkets.backtest.sweep import grid, parse_param, rank, run_sweep
from txsmarkets.clock import VirtualClock
from txsmarkets.progress import for_stream
from txsmarkets.strategy import params_by_name

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m txsmarkets.backtest",
        description="Backtest a strategy against simulated or recorded markets, in virtual time.",
    )
    p.add_argument("--strategy", required=True, help="the strategy, as module:Class")
    market = p.add_mutually_exclusive_group(required=True)
    market.add_argument("--replay", metavar="DIR", help="a recording folder, a --state-dir or a file")
    market.add_argument("--simulate", action="store_true", help="simulated traders on the catalogue's markets")
    p.add_argument("--catalogue", metavar="FILE", help="the markets (JSON; default the demo's)")
    p.add_argument("--seed", type=int, default=None, help="the simulation's seed (default 0)")
    p.add_argument("--duration", type=float, default=None, help="virtual seconds (default 3600; a replay: to its end)")
    p.add_argument("--controls", metavar="FILE", help="a config file with a [controls] section")
    p.add_argument("--journal", metavar="DIR", help="write the session journal there")
    p.add_argument("--balance", default="1000.00", help="the account's pounds (default 1000.00)")
    p.add_argument(
        "--latency",
        metavar="SPEC",
        help=f"each frame's one-way delay between client and exchange, virtual seconds: {FORMS} (default none)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a strategy parameter (repeatable, a name once; a comma always separates values, and several values make a sweep)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes for a sweep (default the CPUs)")
    p.add_argument("--dask", metavar="ADDRESS", help="run a sweep on this Dask scheduler")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE", help="draw prices, orders, fills and P&L to a PNG (needs matplotlib)")
    p.add_argument(
        "--log-level",
        type=str.lower,
        choices=LEVELS,
        help="write the strategy's and txsmarkets' log of this level and above to stderr (default critical)",
    )
    p.add_argument("-v", dest="log_level", action="store_const", const="info", help="the same as --log-level info")
    return p


def _ranking(reports: list[Report]) -> str:
    lines = [f"{'rank':>4}  {'pnl':>12}  {'realised':>12}  {'drawdown':>10}  {'fills':>6}  {'orders':>6}  params"]
    for n, report in enumerate(rank(reports), 1):
        lines.append(
            f"{n:>4}  {money(report.pnl):>12}  {money(report.realised_pnl):>12}  {money(report.max_drawdown):>10}"
            f"  {report.fills:>6}  {report.orders:>6}  {json.dumps(report.params, sort_keys=True)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command, the report to ``out`` (stdout) and the log to stderr; returns the
    exit status: 0, or 2 with one line on stderr when it cannot run."""
    out = out if out is not None else sys.stdout
    err = sys.stderr
    args = parser().parse_args(argv)
    level = args.log_level or "critical"
    try:
        params = params_by_name(parse_param(text) for text in args.param)
        options: dict[str, Any] = dict(
            replay=args.replay,
            simulate=args.simulate,
            catalogue=args.catalogue,
            seed=args.seed,
            duration=args.duration,
            controls=args.controls,
            balance=args.balance,
            latency=args.latency,
        )
        combinations = grid(params)
        if len(combinations) > 1 or args.dask:
            if args.plot or args.journal:
                raise ValueError("--plot and --journal are for one backtest, not a sweep")
            # The runs have no one clock: their lines carry the wall time. The pool's worker
            # processes write to their stderr (this one's); a Dask cluster's log on their
            # machines.
            with logging_to(log_observer(err, level, None)):
                reports = run_sweep(
                    args.strategy, combinations, workers=args.workers, dask=args.dask, log_level=args.log_level, **options
                )
            _notices(reports, err)
            if args.json:
                out.write(json.dumps({"runs": [r.to_dict() for r in rank(reports)]}) + "\n")
            else:
                out.write(_ranking(reports) + "\n")
            return 0
        # The progress bar would redraw over the log's lines.
        progress = for_stream(err, quiet=args.json or args.log_level is not None)
        clock = VirtualClock()
        with logging_to(log_observer(err, level, clock.seconds)):
            report = run_backtest(
                args.strategy,
                params=combinations[0],
                journal=args.journal,
                progress=progress,
                series=bool(args.plot),
                clock=clock,
                **options,
            )
        if args.plot:
            from txsmarkets.backtest.plot import plot

            plot(report, args.plot)
    except (ValueError, OSError, RuntimeError, ImportError) as e:
        err.write(f"backtest: {e}\n")
        return 2
    _notices([report], err)
    out.write((report.to_json() if args.json else report.text()) + "\n")
    return 0


def _notices(reports: list[Report], err: TextIO) -> None:
    """The reports' notes (a damaged recording, markets skipped) on ``err``, a line each and
    each once, whatever the log level: the figures stand on part of the data."""
    for note in dict.fromkeys(note for report in reports for note in report.notes):
        err.write(f"backtest: warning: {note}\n")
