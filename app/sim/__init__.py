"""The Kraken simulator: real servers on loopback, one per Kraken host, sharing one exchange state."""
