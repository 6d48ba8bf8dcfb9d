"""The session core shared by the client and the exchange: sequence numbers both ways, the
replay store, heartbeats, ping, replay and gapfill, and the throttle. It owns the in-order
rule; it knows no client, exchange or persistence, and takes its clock as an argument."""
