"""The README's quickstart, verbatim: log in to the embedded exchange, ping, place an order,
cancel it, log out.

    python examples/quickstart.py
"""

from twisted.internet import task
from twisted.internet.defer import Deferred
from txsmarkets.client import BUY, OrderCreate, SessionSettings
from txsmarkets.exchange.service import start_exchange
from txsmarkets.client import connect

async def main(reactor):
    exchange = await start_exchange(reactor)      # the embedded exchange, on loopback
    settings = SessionSettings("demo", "demo", host="127.0.0.1", port=exchange.port,
                               ssl=False)         # plaintext only when asked for
    client = await connect(settings, reactor)     # logged in
    client.add_handler("seto.order_accepted", lambda message: print(message))
    client.add_global_handler(lambda name, message: print("[global]", name))
    print("ping", await client.ping(), "s")
    order = OrderCreate(market_id=1, contract_id=11, side=BUY, price=2500, quantity=400000)
    accepted = await client.order(order)          # or errbacks OrderRejected / OrderInvalid
    await client.cancel_order(accepted.order_accepted.order_id)
    await client.logout()
    await exchange.stop()

task.react(lambda reactor: Deferred.fromCoroutine(main(reactor)))
