"""Fetching and parsing: pure parsers (bytes -> records) and a thin HTTP layer."""
