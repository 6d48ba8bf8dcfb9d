"""``python -m txsmarkets.backtest``: see `txsmarkets.backtest.cli`."""

from txsmarkets.backtest.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
