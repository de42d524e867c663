"""The ground floor: what every layer shares (outcomes, records, time, settings, politeness, terminal and display text, CSV cells); imports nothing of ticker's above it."""
