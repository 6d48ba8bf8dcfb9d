"""``python -m txsmarkets.backtest``: see `txsmarkets.backtest.cli`."""

import warnings

from twisted.logger import globalLogBeginner

from txsmarkets.backtest.cli import main

if __name__ == "__main__":
    # The process's log is what main writes to stderr: logging begins, so that Twisted's
    # printing of critical events until then does not write them a second time. Python's
    # warnings stay Python's, as Twisted would log them instead.
    showwarning = warnings.showwarning
    globalLogBeginner.beginLoggingTo([], redirectStandardIO=False)
    warnings.showwarning = showwarning
    raise SystemExit(main())
