"""The trading core: the rules of money, orders and the account, owned once.

Pure code: it imports the wire's messages, the errors and the standard library, and does
no I/O (no reactor, no clock of its own: a time is passed in). The live client, a journal
replay, the daemon's figures, a strategy's host and a backtest all consume it.

- `txsmarkets.trading.money`: units, pounds, an order's liability, a market's worst case.
- `txsmarkets.trading.positions`: positions at average cost and the P&L a fill realises.
- `txsmarkets.trading.orders`: `LiveOrder`, its `OrderStatus`, the bounded history.
- `txsmarkets.trading.account`: the account reducer (`Account.apply`) and its `Change`.
"""
