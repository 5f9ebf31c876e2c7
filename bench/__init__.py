"""Benchmark harness: fake upstream, bare pass-through proxy, load generator and runner (see README.md)."""
