"""Kraken Spot: REST, WebSocket v2 and legacy v1, as one venue per account."""
