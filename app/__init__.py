"""Kraken Cancel Console: see every open Kraken order and cancel them fast and surely."""

__version__ = "0.1.0"
