"""Stores behind small protocols: embedded backends by default (SQLite), others (Redis) by config."""
