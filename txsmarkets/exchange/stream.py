"""The engine's account streams: each account's messages numbered, kept and handed out.

`AccountStream` is the one place an account-stream message goes through: it takes the
account's next sequence number, is kept in the account's log (for a session resuming the
stream), and is handed to the ``on_account`` listener.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from txsmarkets.exchange.accounts import Account, AccountRegistry
from txsmarkets.exchange.market import _UINT32_MAX, UnknownAccount, _noop, _Payload
from txsmarkets.wire import seto_pb2

__all__ = ["AccountStream"]

log = Logger()


class AccountStream:
    """Numbers, logs and delivers the messages to the accounts of ``accounts``.

    ``on_account`` is the listener (a no-op until set), called with the account's id and a
    payload it may change; a listener that raises is logged and the command goes on.
    """

    def __init__(self, accounts: AccountRegistry) -> None:
        self.accounts = accounts
        #: The listener: ``(account id, payload)`` for each message.
        self.on_account: Callable[[int, seto_pb2.Payload], None] = _noop

    def account(self, account_id: int) -> Account:
        """The account of ``account_id``; UnknownAccount for an unknown id."""
        account = self.accounts.get(account_id)
        if account is None:
            raise UnknownAccount(f"no account {account_id!r}")
        return account

    def send(self, account: Account, payload: seto_pb2.Payload, body: Any) -> None:
        """Number an account-stream message (in ``body``'s sequence fields), log it and
        hand it to ``on_account``."""
        sequence = account.sequence = account.sequence + 1
        body.account_sequence_64 = sequence
        if sequence <= _UINT32_MAX:
            body.account_sequence = sequence
        account.log.append((sequence, payload.SerializeToString()))
        self._deliver(account.id, payload)

    def send_unnumbered(self, account: Account, payload: seto_pb2.Payload) -> None:
        """`send` for a message with no account sequence field: it still takes a number."""
        sequence = account.sequence = account.sequence + 1
        account.log.append((sequence, payload.SerializeToString()))
        self._deliver(account.id, payload)

    def pass_over(self, account: Account) -> None:
        """Take the number of a message to an account that is not ``attended`` (`Account`),
        without the message: nobody will read it."""
        account.sequence += 1

    def _deliver(self, account_id: int, payload: seto_pb2.Payload) -> None:
        # A failing listener must not leave a command half done.
        try:
            self.on_account(account_id, payload)
        except Exception:
            log.failure("on_account listener failed for account {id}", id=account_id)

    def messages_since(self, account_id: int, account_sequence: int) -> list[seto_pb2.Payload]:
        """Fresh copies of the account's messages numbered after ``account_sequence``, from
        the oldest kept (see `MatchingEngine.account_messages_since`). UnknownAccount for
        an unknown account."""
        log_ = self.account(account_id).log
        if not log_:
            return []
        skip = max(0, account_sequence - log_[0][0] + 1)
        result = []
        for index in range(skip, len(log_)):
            result.append(_Payload.FromString(log_[index][1]))
        return result

    def log_start(self, account_id: int) -> int:
        """The oldest account sequence still kept (the next one if none is kept);
        UnknownAccount for an unknown account."""
        account = self.account(account_id)
        return account.log[0][0] if account.log else account.sequence + 1
