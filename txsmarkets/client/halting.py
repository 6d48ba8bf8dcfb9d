"""`HaltNotices`: what the trading controls tell the operator: a halt (the kill switch),
refusals and forced orders.

The halt is one line that says why and how trading resumes. Creates refused while halted
are one line for the first, then a line a minute that counts them while a strategy goes on
trying (a line each was hundreds a second); the resume says how many there were.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from txsmarkets.exceptions import OrderRefused

__all__ = ["HaltNotices"]

_log = Logger(namespace="txsmarkets.client.controls")

#: Seconds between the lines that count creates refused while halted.
SUMMARY_INTERVAL = 60.0


class HaltNotices:
    """The log lines of one `Controls`' halts, and the refusals it makes while halted.

    ``resume_hint`` says how trading resumes, in the halt's line and in each refusal (the
    daemon names its signal); ``refused`` counts the refusals since the last halt began.
    """

    def __init__(self) -> None:
        self.resume_hint = "reset() resumes trading"
        self.refused = 0
        # (when, how many refused) at the last line about refusals while halted.
        self._last = (0.0, 0)

    def halted(self, reason: str) -> None:
        """A halt begins."""
        self.refused = 0
        _log.error("trading halted: {reason}; {hint}", reason=reason, hint=self.resume_hint)

    def restored(self, reason: str) -> str:
        """A halt for ``reason`` survived a restart: said, and ``reason`` returned."""
        _log.warn("trading halted before the restart, and still: {reason}; {hint}", reason=reason, hint=self.resume_hint)
        return reason

    def refusal(self, reason: str, now: float) -> OrderRefused:
        """The kill switch's refusal of a create at ``now`` (seconds) while halted for
        ``reason``, logged as the module doc says."""
        error = OrderRefused("kill_switch", None, reason, f"trading is halted ({reason}); {self.resume_hint}")
        self.refused += 1
        if self.refused == 1:
            self._last = (now, 1)
            _log.warn("order refused: {error} (further refusals while halted: a line a minute)", error=str(error))
        elif now - self._last[0] >= SUMMARY_INTERVAL:
            since = self.refused - self._last[1]
            self._last = (now, self.refused)
            _log.warn("{n} more creates refused while halted ({reason})", n=since, reason=reason)
        return error

    def resumed(self, reason: str) -> None:
        """The halt for ``reason`` is lifted."""
        _log.warn("trading resumed after halt: {reason} ({n} creates refused while halted)", reason=reason, n=self.refused)

    def order_refused(self, error: OrderRefused, create: Any) -> None:
        """A control refused ``create``: a line that says which and why."""
        _log.warn(
            "order refused ({error}): market {market} contract {contract} side {side} price {price} quantity {quantity}",
            error=str(error),
            market=create.market_id,
            contract=create.contract_id,
            side=create.side,
            price=create.price,
            quantity=create.quantity,
        )

    def order_forced(self, what: str, create: Any) -> None:
        """A forced ``what`` skipped the controls: a line that says so."""
        _log.warn(
            f"forced {what} skips the controls:"
            " market {market} contract {contract} side {side} price {price} quantity {quantity}",
            market=create.market_id,
            contract=create.contract_id,
            side=create.side,
            price=create.price,
            quantity=create.quantity,
        )
