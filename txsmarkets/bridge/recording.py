"""`BridgeRecording`: the market data the bridge polls, kept as a recording of real markets.

The messages `BridgeMarketData <txsmarkets.bridge.market_data.BridgeMarketData>` makes of
its polls (a ``market_quotes`` snapshot of a market when it is first polled, then
``contract_quotes`` changes and ``market_state``) go to a `RecordingFiles
<txsmarkets.exchange.recording_files.RecordingFiles>` folder, and ``catalogue.json`` beside
them holds the recorded markets with their real ids, names and contracts, read from the
upstream's catalogue endpoints (`txsmarkets.exchange.upstream`), as the paper exchange's
``--record`` writes it. ``twistd smarkets-exchange --replay DIR --catalogue
DIR/catalogue.json`` and ``python -m txsmarkets.backtest --replay DIR --catalogue
DIR/catalogue.json`` play it.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from txsmarkets.exchange.recording_files import RecordingFiles
from txsmarkets.exchange.upstream import UpstreamCatalogueError, catalogue_of_markets, catalogue_text, write_catalogue
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.wire import seto_pb2

__all__ = ["BridgeRecording"]

_log = Logger()


class BridgeRecording:
    """Writes the bridge's market data to the recording folder ``directory`` (made if
    missing; OSError if it cannot be), and its markets' ``catalogue.json``, read through
    ``client``. ``files`` is the `RecordingFiles` (``files.records`` counts what was written)."""

    def __init__(self, directory: str | os.PathLike[str], clock: IReactorTime, client: HTTPAPIClient) -> None:
        self.files = RecordingFiles(directory, clock)
        self.catalogue_path = self.files.directory / "catalogue.json"
        self.client = client
        #: The markets the catalogue file has been written for (or that cannot be in one).
        self._catalogued: frozenset[int] = frozenset()
        #: The markets of an earlier recording in the folder, kept in the catalogue.
        self._earlier = _market_ids(self.catalogue_path)

    def record(self, payload: seto_pb2.Payload) -> None:
        """Keep one message, received now."""
        self.files.record(payload)

    def flush(self) -> None:
        """Make what is written readable (a replay may read the folder while it grows)."""
        self.files.flush()

    async def catalogue(self, market_ids: Iterable[int]) -> None:
        """Write ``catalogue.json`` again when ``market_ids`` has a market it does not hold
        yet: every market recorded so far (those of an earlier recording in the folder too,
        while the upstream has them), as the upstream has it now. A request that fails
        raises (the next round tries again); markets the embedded exchange cannot hold (an id
        above its uint32) leave the file as it was, with a warning, until another market comes."""
        wanted = self._catalogued | frozenset(market_ids)
        if wanted == self._catalogued:
            return
        markets = await self.client.markets(sorted(wanted | self._earlier))
        try:
            data = await catalogue_of_markets(self.client, markets)
        except UpstreamCatalogueError as e:
            # Asking again would fail again: not until the markets change.
            _log.warn("bridge: cannot write the recording's catalogue: {error}", error=e)
            self._catalogued = wanted
            return
        write_catalogue(self.catalogue_path, catalogue_text(data))
        self._catalogued = wanted

    def close(self) -> None:
        """Finish the recording's file."""
        self.files.close()
        _log.info("bridge: recorded {n} messages in {dir}", n=self.files.records, dir=str(self.files.directory))


def _market_ids(path: pathlib.Path) -> frozenset[int]:
    """The market ids of the catalogue file at ``path``; none if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return frozenset(int(m["id"]) for e in data["events"] for m in e.get("markets", ()))
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        _log.warn("bridge: the recording's catalogue {path} is unreadable ({error}): it is written anew", path=str(path), error=e)
        return frozenset()
