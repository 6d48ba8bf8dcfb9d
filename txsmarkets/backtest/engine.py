"""The backtest's engine room: the embedded exchange and a real client joined in memory.

`make_market` builds the exchange a backtest trades on (simulated traders or a replayed
recording, on a `twisted.internet.task.Clock`, its connections delayed when given a
latency: `txsmarkets.backtest.latency`) and opens the backtest's own account in it;
`Drive` moves the clock from event to event, delivering every byte written (framed, as on
a socket) between the steps, until the end. `txsmarkets.inmemory.MemoryExchange`
does the joining: the client's connector path, the server protocol and the transports are
the ones of a live session.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Callable

from twisted.internet.task import Clock

from txsmarkets.backtest.latency import delay_connections
from txsmarkets.exchange.accounts import Credentials
from txsmarkets.exchange.catalogue import Catalogue
from txsmarkets.inmemory import MemoryExchange
from txsmarkets.wire import seto_pb2

__all__ = ["PASSWORD", "RESUME_KEPT", "USERNAME", "Drive", "make_market"]

#: The backtest's account (its password is no secret: nothing but the backtest logs in).
USERNAME, PASSWORD = "~backtest", "backtest"

#: What the exchange keeps for a client to resume from, in a backtest: the frames a session
#: keeps to resend (``replay_capacity``) and the messages each account keeps
#: (``account_log_size``). On the in-memory link nothing is lost on the way, so a resume
#: asks only for what was in flight (at most a latency's worth); by the live defaults
#: (100,000 each) a long backtest's memory would grow with its length. A resume that asks
#: for more than is kept is still served correctly: the exchange ends the session and the
#: client's new one resumes the account stream from what the account keeps.
RESUME_KEPT = {"replay_capacity": 10_000, "account_log_size": 10_000}


def make_market(
    catalogue: Catalogue | None = None,
    *,
    simulate: bool = False,
    seed: int | None = None,
    records: Iterable[tuple[float, seto_pb2.Payload]] | None = None,
    balance: Decimal | str = "1000.00",
    clock: Clock | None = None,
    exchange_options: dict[str, Any] | None = None,
    latency: Callable[[], float] | None = None,
) -> MemoryExchange:
    """A `MemoryExchange` over ``catalogue`` (the demo's when None) with simulated traders
    (``simulate``, ``seed``) and/or a replay of ``records``, and the account
    `USERNAME`/`PASSWORD` holding ``balance`` pounds. ``latency`` (`Latency.sampler
    <txsmarkets.backtest.latency.Latency.sampler>`) draws each frame's delay each way; None
    delivers every frame at the step it was written in.

    Session ids are numbered, so that the journal (which holds the login response) is the
    same on every run. What a resume can ask for is kept within `RESUME_KEPT` (unless
    ``exchange_options`` say otherwise).
    """
    options = {**RESUME_KEPT, **(exchange_options or {})}
    if simulate:
        options["simulate"] = True
        options["seed"] = seed if seed is not None else 0
    if records is not None:
        options["replay"] = records
    exchange = MemoryExchange(catalogue, clock=clock, **options)
    if latency is not None:
        delay_connections(exchange.factory, exchange.clock, latency)
    numbers = itertools.count(1)
    exchange.factory.session_id = lambda: f"backtest-{next(numbers)}"  # type: ignore[method-assign]
    # One PBKDF2 round: the login is not what a backtest measures.
    exchange.engine.accounts.add_credentials(USERNAME, Credentials.create(PASSWORD, iterations=1), Decimal(balance))
    return exchange


class Drive:
    """Moves ``exchange``'s clock from one event to the next and delivers what each writes.

    ``on_step`` is called after every step (the progress bar and the figures' sampling).
    """

    def __init__(self, exchange: MemoryExchange, on_step: Callable[[], None] | None = None) -> None:
        self.exchange = exchange
        self.clock = exchange.clock
        self.on_step = on_step
        #: Clock steps taken.
        self.steps = 0

    def until(self, end: float, done: Callable[[], bool] = lambda: False) -> None:
        """Step until the clock reaches ``end`` (virtual seconds) or ``done()`` is true;
        the clock stands at ``end`` afterwards unless ``done`` stopped it earlier."""
        exchange, clock = self.exchange, self.clock
        flush = exchange.flush
        on_step = self.on_step
        flush()
        while not done():
            calls = clock.getDelayedCalls()
            if not calls:
                break
            # The clock keeps its calls sorted by time: the first is the next event.
            when = calls[0].getTime()
            if when > end:
                break
            clock.advance(max(0.0, when - clock.seconds()))
            flush()
            self.steps += 1
            if on_step is not None:
                on_step()
        if not done() and clock.seconds() < end:
            clock.advance(end - clock.seconds())
            flush()
