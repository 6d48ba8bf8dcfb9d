"""`plot`: a backtest's picture, a PNG: each market's prices with the strategy's orders and
fills marked, and the P&L curve. Needs matplotlib (``pip install -e '.[plots]'`` in a clone
of the repository)."""

from __future__ import annotations

import os
from typing import Any

from txsmarkets.backtest.report import Report
from txsmarkets.wire import seto_pb2

__all__ = ["plot"]


def plot(report: Report, path: str | os.PathLike[str]) -> None:
    """Draw ``report`` (run with ``series=True``) to the PNG ``path``. ImportError without
    matplotlib, ValueError for a report without its series."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "--plot needs matplotlib (the plots extra: pip install -e '.[plots]' in a clone of the repository)"
        ) from None
    series = report.series
    if series is None:
        raise ValueError("the report has no series: run the backtest with series=True")
    market_ids = sorted({m for m, _ in series.prices} | {o[1] for o in series.orders})
    rows = len(market_ids) + 1
    figure, axes = plt.subplots(rows, 1, figsize=(11, 2.6 * rows), sharex=True, squeeze=False)
    for ax, market_id in zip(axes[:, 0], market_ids):
        for (m, contract_id), points in sorted(series.prices.items()):
            if m == market_id and points:
                ax.plot([t for t, _ in points], [p for _, p in points], lw=0.8, label=f"contract {contract_id}")
        orders: Any = [o for o in series.orders if o[1] == market_id]
        for side, marker, colour in ((seto_pb2.SIDE_BUY, "^", "tab:green"), (seto_pb2.SIDE_SELL, "v", "tab:red")):
            chosen = [o for o in orders if o[3] == side]
            ax.scatter([o[0] for o in chosen], [o[4] / 100 for o in chosen], s=6, marker=marker, c=colour, alpha=0.3)
        fills = [f for f in report.fill_list if f.market_id == market_id]
        ax.scatter([f.time for f in fills], [f.price / 100 for f in fills], s=14, marker="x", c="black", label="fills")
        ax.set_ylabel(f"market {market_id} (%)")
        ax.legend(loc="upper right", fontsize="x-small")
    pnl_ax = axes[-1, 0]
    pnl_ax.plot([t for t, _ in series.pnl], [p for _, p in series.pnl], c="tab:blue")
    pnl_ax.set_ylabel("P&L (GBP)")
    pnl_ax.set_xlabel("virtual seconds")
    figure.suptitle(f"{report.strategy} on {report.source}")
    figure.tight_layout()
    figure.savefig(os.fspath(path), format="png")
    plt.close(figure)
