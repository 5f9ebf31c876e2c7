"""Async inference: accept a call now, run it later through the same engine, keep its answer for polling."""
