"""Benchmarks of Relance (``make bench``); the figures go into docs/performance.md."""
