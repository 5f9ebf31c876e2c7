"""Fake upstream servers and wire builders for the gateway tests."""
