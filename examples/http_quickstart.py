"""A bot in any language, here in Python with nothing but the standard library: it speaks
Smarkets' HTTP API v3 to the embedded exchange as it would to Smarkets. It logs in, lists
events, markets and contracts, reads the quotes, places an order, lists it, cancels it and
logs out.

    twistd -n smarkets-exchange --http tcp:8080:interface=127.0.0.1 &
    python examples/http_quickstart.py http://127.0.0.1:8080
"""

# docs/guides/http.rst shows this file from the line after this one.
import json
import sys
import urllib.error
import urllib.request

BASE = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080").rstrip("/") + "/v3/"
token = None


def call(method, path, body=None):
    """The decoded JSON answer; an HTTP error ends the bot with its error_type."""
    request = urllib.request.Request(BASE + path, method=method)
    if token is not None:
        request.add_header("Authorization", "Session-Token " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        error = json.loads(e.read())
        sys.exit(f"{method} {path}: {e.code} {error['error_type']}: {error['data']}")


session = call("POST", "sessions/", {"username": "demo", "password": "demo"})
token = session["token"]  # lives 30 minutes from its last use
print("logged in until", session["stop"])

events = call("GET", "events/?state=upcoming&limit=5")["events"]
for event in events:
    print("event", event["id"], event["name"], event["start_datetime"])
event_id = events[0]["id"]  # ids are decimal strings

markets = call("GET", f"events/{event_id}/markets/")["markets"]
for market in markets:
    print("market", market["id"], market["name"], market["state"])
market_id = markets[0]["id"]

contracts = call("GET", f"markets/{market_id}/contracts/")["contracts"]
for contract in contracts:
    print("contract", contract["id"], contract["name"])
contract_id = contracts[0]["id"]

quotes = call("GET", f"markets/{market_id}/quotes/")  # keyed by contract id, best first
for key, book in quotes.items():
    best_bid = book["bids"][0]["price"] if book["bids"] else None
    best_offer = book["offers"][0]["price"] if book["offers"] else None
    print("quotes", key, "bid", best_bid, "offer", best_offer)

# A back of £40.00 payout (quantity in 1/10,000 of a pound) at 25.00% (price in basis points).
placed = call("POST", "orders/", {
    "market_id": market_id, "contract_id": contract_id, "side": "buy",
    "price": 2500, "quantity": 400000, "type": "good_til_cancelled", "label": "quickstart",
})
order_id = placed["order_id"]  # a decimal string: order ids go beyond 2**53
print("placed", order_id, "exposure", placed["exposure"], "available", placed["available_balance"])

orders = call("GET", f"orders/?id={order_id}")["orders"]
print("listed", [(o["id"], o["state"], o["quantity_unfilled"]) for o in orders])

call("DELETE", f"orders/{order_id}/")
print("cancelled", order_id)
print("balance", call("GET", "accounts/")["account"]["available_balance"])

call("DELETE", "sessions/")
print("logged out")
