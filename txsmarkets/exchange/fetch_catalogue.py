"""``python -m txsmarkets.exchange.fetch_catalogue``: write a catalogue of real events,
markets and contracts, read from an HTTP API v3 upstream's public endpoints, for the
embedded exchange (``twistd smarkets-exchange --catalogue FILE``, ``python -m
txsmarkets.backtest --catalogue FILE``).

::

    python -m txsmarkets.exchange.fetch_catalogue --upstream https://api.smarkets.com/v3/ \\
        --event-type football --state upcoming --start-before 2026-12-07T00:00:00Z -o football.json

Filters: ``--event-type`` (a sport, the API's ``type_domain`` such as ``football``, or a
legacy type name such as ``football_match``; repeated or comma-separated), ``--state``
(event states), ``--start-after``/``--start-before`` (ISO 8601 with a zone),
``--event-ids``, ``--market-ids`` (those markets only, whatever the other filters say);
``--limit`` bounds the events with markets (default 20). No account is used. The file
holds the demo's accounts (demo/demo, demo2/demo2, £1,000.00 each) so that the exchange
has someone to trade, unless ``--no-accounts``.

Exit status: 0 written; 2 with one line on stderr for bad arguments; 1 with one line when
the upstream cannot be read or its catalogue cannot be the exchange's (an id above the
wire's uint32, a market that is not there), or the file cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorTime

from txsmarkets.exchange.event_types import EVENT_DOMAINS, EVENT_STATES, EVENT_TYPES
from txsmarkets.exchange.upstream import catalogue_text, check, events_catalogue, markets_catalogue, write_catalogue
from txsmarkets.http_api import HTTPAPIClient

__all__ = ["main", "parser"]

_PROG = "python -m txsmarkets.exchange.fetch_catalogue"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage: the rule for bad input.
        self.exit(2, f"{_PROG}: {message}\n")


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of ids: {text!r}") from None
    if not ids or any(i < 1 for i in ids):
        raise argparse.ArgumentTypeError(f"not a list of ids: {text!r}")
    return ids


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time with a zone: {text!r}")
    return moment.astimezone(timezone.utc)


def _states(text: str) -> list[str]:
    states = _names(text)
    for state in states:
        if state not in EVENT_STATES:
            raise argparse.ArgumentTypeError(f"{state!r} is not an event state ({', '.join(EVENT_STATES)})")
    return states


def _event_types(text: str) -> list[str]:
    names = _names(text)
    for name in names:
        if name not in EVENT_DOMAINS and name not in EVENT_TYPES:
            raise argparse.ArgumentTypeError(f"{name!r} is neither a sport (football, tennis, ...) nor an event type (football_match, ...)")
    return names


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = _Parser(prog=_PROG, description="Write a catalogue of real markets, read from an HTTP API v3's public endpoints.")
    p.add_argument("--upstream", required=True, metavar="URL", help="the API's base URL, such as https://api.smarkets.com/v3/")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the catalogue file to write ('-': stdout)")
    p.add_argument("--event-type", action="append", type=_event_types, default=[], metavar="NAMES",
                   help="sports (football) or event types (football_match), comma-separated; repeatable")
    p.add_argument("--state", action="append", type=_states, default=[], metavar="STATES",
                   help="event states, comma-separated (default: new, upcoming, live)")
    p.add_argument("--start-after", type=_moment, metavar="WHEN", help="events starting at or after (ISO 8601 with a zone)")
    p.add_argument("--start-before", type=_moment, metavar="WHEN", help="events starting at or before (ISO 8601 with a zone)")
    p.add_argument("--event-ids", type=_ids, default=[], metavar="IDS", help="these events only (comma-separated)")
    p.add_argument("--market-ids", type=_ids, default=[], metavar="IDS", help="these markets only (comma-separated)")
    p.add_argument("--limit", type=_positive, default=20, help="at most this many events with markets (default 20)")
    p.add_argument("--no-accounts", action="store_true", help="leave the demo's accounts out of the file")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds each request may take (default 30)")
    return p


async def fetch(reactor: IReactorTime, args: argparse.Namespace) -> str:
    """The catalogue file's text that ``args`` ask for, from the upstream."""
    client = HTTPAPIClient(reactor, url=args.upstream, timeout=args.timeout)
    try:
        if args.market_ids:
            data = await markets_catalogue(client, args.market_ids)
        else:
            kinds = [name for names in args.event_type for name in names]
            data = await events_catalogue(
                client,
                limit=args.limit,
                event_ids=args.event_ids,
                domains=[k for k in kinds if k in EVENT_DOMAINS],
                types=[k for k in kinds if k not in EVENT_DOMAINS],
                states=[s for states in args.state for s in states],
                start_min=args.start_after,
                start_max=args.start_before,
            )
    finally:
        await client.close()
    text = catalogue_text(data, demo_accounts=not args.no_accounts)
    # What the exchange would say of the file, said now.
    check(json.loads(text), args.upstream)
    return text


def _write(text: str, output: str, out: TextIO) -> None:
    if output == "-":
        out.write(text)
    else:
        write_catalogue(output, text)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, reactor: IReactorCore | None = None) -> int:
    """Run the command (on ``reactor``, the global one by default, which it runs and stops);
    returns the exit status (see the module docstring)."""
    out = out if out is not None else sys.stdout
    args = parser().parse_args(argv)
    if args.start_after and args.start_before and args.start_after > args.start_before:
        sys.stderr.write(f"{_PROG}: --start-after is later than --start-before\n")
        return 2
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    outcome: list[Any] = []

    def done(result: Any) -> None:
        outcome.append(result)
        reactor.stop()

    def begin() -> None:
        Deferred.fromCoroutine(fetch(IReactorTime(reactor), args)).addBoth(done)

    reactor.callWhenRunning(begin)
    reactor.run()
    result = outcome[0] if outcome else None
    if not isinstance(result, str):
        why = result.getErrorMessage() if result is not None else "stopped"
        sys.stderr.write(f"{_PROG}: cannot read the catalogue from {args.upstream}: {why}\n")
        return 1
    try:
        _write(result, args.output, out)
    except OSError as e:
        sys.stderr.write(f"{_PROG}: cannot write {args.output}: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
