"""Kraken Futures (derivatives): REST v3 cancels and the WebSocket open_orders feed."""
