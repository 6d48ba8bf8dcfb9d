"""`run_backtest`: one strategy, unchanged, against a simulated or recorded market.

The strategy runs on a real `StreamingAPIClient` under a `StrategyHost`, as in the daemon;
the client talks to the embedded exchange through the real framing and session protocols,
in memory, on a `twisted.internet.task.Clock` that jumps from event to event. Nothing
sleeps and no socket is opened, so an hour of market runs in a second or so, and the
same inputs and seed give the same orders, fills, P&L and journal every time.
"""

from __future__ import annotations

import configparser
import itertools
import math
import os
import pathlib
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from twisted.internet.task import Clock

from txsmarkets.backtest.engine import PASSWORD, USERNAME, Drive, make_market
from txsmarkets.backtest.latency import Latency, parse_latency
from txsmarkets.backtest.report import MarketFigures, Report
from txsmarkets.backtest.watch import Watcher
from txsmarkets.client.controls import Controls, InvalidControls
from txsmarkets.errors import Error
from txsmarkets.exchange.catalogue import Catalogue, CatalogueError, load_catalogue
from txsmarkets.exchange.recorded import read_recorded, recorded_files
from txsmarkets.persistence.journal import Journal
from txsmarkets.strategy import Strategy, StrategyError, StrategyHost, load_strategy
from txsmarkets.wire import seto_pb2

__all__ = ["DEFAULT_DURATION", "BacktestError", "Progress", "load_controls", "run_backtest"]

#: Virtual seconds a simulation runs unless told otherwise.
DEFAULT_DURATION = 3600.0

Records = Iterable[tuple[float, seto_pb2.Payload]]


class BacktestError(ValueError):
    """A backtest cannot run as asked (no market, a bad file); the message says why."""


class Progress(Protocol):
    """What `run_backtest` tells a progress display (`txsmarkets.progress.ProgressBar`)."""

    def begin(self, total: float, unit: str) -> None: ...

    def update(self, done: float) -> None: ...

    def end(self) -> None: ...


def load_controls(source: Controls | Mapping[str, Any] | str | os.PathLike[str] | None) -> Controls | None:
    """Trading controls from ``source``: a `Controls`, keyword limits (a dict), or the path
    of a config file whose ``[controls]`` section holds them as the daemon reads them
    (dashed keys). BacktestError, one line naming the file, for a file that cannot be read,
    is no INI file, has no such section or holds an unknown or bad limit; `InvalidControls`
    for a bad keyword limit."""
    if source is None or isinstance(source, Controls):
        return source
    if isinstance(source, Mapping):
        return Controls(**source)
    parser = configparser.ConfigParser()
    try:
        if not parser.read(source):
            raise BacktestError(f"cannot read the controls file {str(source)!r}")
        if not parser.has_section("controls"):
            raise BacktestError(f"{str(source)!r} has no [controls] section")
        return Controls.from_config(parser["controls"])
    except InvalidControls as e:
        raise BacktestError(f"the controls file {str(source)!r}: {e}") from None
    except (configparser.Error, UnicodeDecodeError) as e:
        # configparser's messages run over several lines (the file, the line, its text).
        reason = str(e).splitlines()[0]
        raise BacktestError(f"the controls file {str(source)!r} is not a valid INI file: {reason}") from None


def _strategy(strategy: str | type[Strategy] | Strategy, params: dict[str, Any]) -> tuple[Strategy, str]:
    if isinstance(strategy, str):
        return load_strategy(strategy, params), strategy
    if isinstance(strategy, type):
        return strategy(params), f"{strategy.__module__}:{strategy.__qualname__}"
    if params:
        strategy.params.update(params)
    return strategy, f"{type(strategy).__module__}:{type(strategy).__qualname__}"


def _pounds(balance: Decimal | str) -> Decimal:
    """``balance`` as Decimal pounds when it is text; BacktestError when it is no number."""
    if not isinstance(balance, str):
        return balance
    try:
        return Decimal(balance.strip())
    except InvalidOperation:
        raise BacktestError(f"a balance is a number of pounds, not {balance!r}") from None


def _count_records(path: str | os.PathLike[str]) -> int:
    """How many market-data records ``path`` holds (for the progress bar): one read of the
    files, parsing only the type of each record."""
    count = 0
    for _ in read_recorded(pathlib.Path(path)):
        count += 1
    return count


def _first_read(path: pathlib.Path, notes: list[str]) -> Records:
    """The records of the recording at ``path`` (`read_recorded`, its damage told in
    ``notes``), the first of them read now: BacktestError, one line, when it yields none (a
    file that is no recording, or a recording of no market data)."""
    records = read_recorded(path, notes)
    first = next(records, None)
    if first is None:
        why = f" ({notes[0]})" if notes else ""
        raise BacktestError(f"{str(path)!r} holds no recorded market data{why}")
    return itertools.chain((first,), records)


def _check_markets(replaying: Any, notes: list[str]) -> None:
    """BacktestError when none of the replayed markets is in the catalogue (the report would
    be empty); a note naming those skipped when some are."""
    skipped = sorted(replaying.markets_skipped)
    if not skipped:
        return
    named = ", ".join(map(str, skipped))
    if not replaying.markets_played:
        raise BacktestError(f"none of the recording's markets ({named}) is in the catalogue")
    are = "markets {} are" if len(skipped) > 1 else "market {} is"
    notes.append(f"the recording's {are.format(named)} not in the catalogue; its records were skipped")


def _stop_market(simulation: Any, replaying: Any) -> None:
    """No more simulated traders' or recorded events (either may be None; again is harmless)."""
    if simulation is not None:
        simulation.stop()
    if replaying is not None:
        replaying.stop()


def run_backtest(
    strategy: str | type[Strategy] | Strategy,
    *,
    params: dict[str, Any] | None = None,
    replay: str | os.PathLike[str] | Records | None = None,
    simulate: bool = False,
    catalogue: Catalogue | str | os.PathLike[str] | None = None,
    seed: int | None = None,
    duration: float | None = None,
    controls: Controls | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    journal: str | os.PathLike[str] | None = None,
    balance: Decimal | str = "1000.00",
    progress: Progress | None = None,
    series: bool = False,
    exchange_options: dict[str, Any] | None = None,
    clock: Clock | None = None,
    latency: str | float | Latency | None = None,
) -> Report:
    """Run ``strategy`` against a market and return its `Report`.

    ``strategy``: ``"module:Class"`` (as for ``twistd smarkets --strategy``), a `Strategy`
    subclass, or an instance; it is made with ``params`` (it reads them as
    ``self.params``). The market: ``simulate`` (simulated traders on ``catalogue``'s
    markets, seeded by ``seed``, default 0) and/or ``replay`` (a recording folder, a
    ``--state-dir``, a file, or ``(time, payload)`` records). ``catalogue`` is a
    `Catalogue` or a JSON file (the demo's when None); it must hold a replay's markets.
    ``duration``: virtual seconds to run (a simulation: `DEFAULT_DURATION`; a replay: until
    the recording ends). ``controls``: the trading controls (see `load_controls`); without
    them the exposure is still followed, by controls that limit nothing. ``journal``: a
    folder for the session journal (its times are virtual). ``balance``: the account's
    pounds. ``progress`` hears how far it is; ``series`` keeps what a plot needs.
    ``clock``: the virtual clock to run on, a new `VirtualClock <txsmarkets.clock.VirtualClock>` (at 0) by default; give one to
    read the virtual time while the backtest runs (the command line stamps its log with it).
    ``latency``: each frame's one-way delay between client and exchange, requests and
    answers (market data too), in virtual seconds: a number, a spec (`parse_latency
    <txsmarkets.backtest.latency.parse_latency>`: ``"0.05"``, ``"uniform:0.01,0.1"``) or a
    `Latency`, its draws seeded by ``seed`` (0 when None, on a replay too); None, the
    default, delivers each frame at the clock step it was written in.

    Raises BacktestError when there is no market to run on, for a bad duration, balance,
    latency, catalogue or controls file, when a latency keeps the client from logging in,
    and what loading the strategy or recording raises.
    """
    wall = time.perf_counter()
    params = dict(params or {})
    if not simulate and replay is None:
        raise BacktestError("a backtest needs a market: simulate=True or replay=...")
    if duration is not None and not 0 <= duration < math.inf:
        # NaN or infinity would never end: the clock never passes them.
        raise BacktestError(f"a duration is a finite number of virtual seconds, 0 or more, not {duration}")
    balance = _pounds(balance)
    try:
        delay = parse_latency(latency) if latency is not None else None
    except ValueError as e:
        raise BacktestError(str(e)) from None
    loaded, name = _strategy(strategy, params)
    if isinstance(catalogue, (str, os.PathLike)):
        try:
            catalogue = load_catalogue(pathlib.Path(catalogue))
        except CatalogueError as e:
            raise BacktestError(str(e)) from None
    records: Records | None = None
    total_records = 0
    # What a user must be told of the inputs whatever the log says: damaged files, markets
    # skipped (`Report.notes`).
    notes: list[str] = []
    source = "simulation" if simulate else ""
    if replay is not None:
        if isinstance(replay, (str, os.PathLike)):
            replay = pathlib.Path(replay)
            recorded_files(replay)  # RecordingError now, before anything runs
            if progress is not None:
                total_records = _count_records(replay)
            records = _first_read(replay, notes)
            source = f"replay of {pathlib.Path(replay).name}" + (" with simulation" if simulate else "")
        else:
            records = replay
            source = "replay" + (" with simulation" if simulate else "")
    # A seed draws the latency too: a replay with a latency says which seed it drew with.
    seeded = simulate or delay is not None
    if seeded and seed is None:
        seed = 0
    limits = load_controls(controls)
    exchange = make_market(
        catalogue,
        simulate=simulate,
        seed=seed,
        records=records,
        balance=balance,
        clock=clock,
        exchange_options=exchange_options,
        latency=delay.sampler(seed or 0) if delay is not None else None,
    )
    clock = exchange.clock
    client = exchange.client(USERNAME, PASSWORD)
    client.controls = limits if limits is not None else Controls(tick_ladder=False)
    writer = Journal(journal, now=clock.seconds) if journal is not None else None
    if writer is not None:
        client.session.sequence.journal = writer
    simulation = getattr(exchange.factory, "simulation", None)
    replaying = getattr(exchange.factory, "replay", None)

    def winners(market_id: int) -> list[int] | None:
        market = simulation.markets.get(market_id) if simulation is not None else None
        return [market.winner] if market is not None and market.winner is not None else None

    watcher = Watcher(client, clock.seconds, series=series, winners=winners)
    errors: list[StrategyError] = []
    host = StrategyHost(client, loaded, on_error=errors.append)
    host.attach()

    if replaying is not None and duration is None:
        end = float("inf")
    else:
        end = float(duration if duration is not None else DEFAULT_DURATION)

    def done() -> bool:
        return replaying is not None and replaying.done.called and (simulation is None or duration is None)

    on_step = None
    if progress is not None:
        if replaying is not None and duration is None:
            progress.begin(total_records, "records")
            on_step = lambda: progress.update(replaying.played)  # noqa: E731
        else:
            progress.begin(end, "seconds")
            on_step = lambda: progress.update(clock.seconds())  # noqa: E731
    try:
        try:
            exchange.run(client.login())
        except (Error, TimeoutError) as e:
            # In memory only a latency beyond the exchange's timers keeps the client out.
            timeout = exchange.factory.login_timeout
            raise BacktestError(
                f"the backtest's client could not log in ({e}); is the latency {delay} near the"
                f" exchange's login timeout of {timeout:g} s?"
            ) from None
        Drive(exchange, on_step).until(end, done)
        # What the last record or step set going (answers, a requote) is delivered.
        exchange.flush()
        sim_seconds = clock.seconds()
        # The market ends here: the strategy's stop and the logout below take virtual time
        # (more with a latency), in which simulated traders and recorded trades would go
        # on filling orders after the end.
        _stop_market(simulation, replaying)
        watcher.sample(force=True)
        exchange.run(host.stop())
        exchange.run(client.logout())
    finally:
        if progress is not None:
            progress.end()
        _stop_market(simulation, replaying)
        if writer is not None:
            writer.close()
    if replaying is not None:
        _check_markets(replaying, notes)
    positions = watcher.positions
    markets = {
        market_id: MarketFigures(
            realised=Decimal(0) if figures.voided else figures.realised,
            marked=figures.marked(),
            fills=figures.fills,
            volume=figures.volume,
            positions={c: held for c, (held, _) in sorted(figures.positions.items())},
        )
        for market_id, figures in sorted(positions.markets.items())
        if figures.fills
    }
    controls_used = client.controls
    return Report(
        strategy=name,
        params=params,
        source=source,
        seed=seed if seeded else None,
        latency=str(delay) if delay is not None else None,
        orders=watcher.orders,
        rejected=watcher.rejected,
        rejections=dict(watcher.rejections),
        fills=len(watcher.fills),
        cancels=watcher.cancels,
        refusals=dict(controls_used.refusals) if controls_used is not None else {},
        pnl=positions.marked(),
        realised_pnl=positions.realised(),
        markets=markets,
        max_drawdown=watcher.max_drawdown,
        peak_exposure=watcher.peak_exposure,
        messages=watcher.messages,
        sim_seconds=sim_seconds,
        wall_seconds=time.perf_counter() - wall,
        errors=len(errors),
        fill_list=watcher.fills,
        series=watcher.series,
        notes=notes,
    )
