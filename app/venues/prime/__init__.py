"""Kraken Prime: the WebSocket with its Order and ExecutionReport streams."""
