"""A parameter sweep of a backtest: the example market maker, on the simulated demo market,
over a grid of sizes and improvements, on a local process pool; the runs ranked by P&L.

    python examples/backtest_sweep.py [--duration 300] [--workers 2] [--seed 1]

The same sweep from the command line::

    python -m txsmarkets.backtest --strategy examples.backtest_market_maker:MarketMaker \\
        --simulate --duration 300 --param size=10000,20000 --param improve=0,1 --workers 2
"""

from __future__ import annotations

import argparse
import pathlib
import sys

# The example strategy is imported by name in each worker: the checkout's top must be on
# the import path, as it is for ``python -m``.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from txsmarkets.backtest.sweep import grid, rank, run_sweep  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="virtual seconds a run")
    parser.add_argument("--workers", type=int, default=2, help="processes in the pool")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    combinations = grid({"size": [10000, 20000], "improve": [0, 1]})
    reports = run_sweep(
        "examples.backtest_market_maker:MarketMaker",
        combinations,
        workers=args.workers,
        simulate=True,
        seed=args.seed,
        duration=args.duration,
    )
    print(f"{'rank':>4}  {'params':<28} {'pnl':>10} {'fills':>6} {'max drawdown':>13}")
    for place, report in enumerate(rank(reports), 1):
        params = ", ".join(f"{k}={v}" for k, v in sorted(report.params.items()))
        print(f"{place:>4}  {params:<28} {report.pnl:>10.2f} {report.fills:>6} {report.max_drawdown:>13.2f}")


if __name__ == "__main__":
    main()
