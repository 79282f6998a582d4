"""Adapters for large histories: columnar reading and evaluation on Polars around the core."""
