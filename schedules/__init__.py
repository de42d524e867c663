"""The background daemon: APScheduler wiring, configuration, politeness and lifecycle."""
