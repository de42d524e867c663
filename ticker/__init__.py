"""ticker: remembers what a news site's headline ticker and rate widgets showed, and when."""

__version__ = "0.1.0"
USER_AGENT = f"ticker/{__version__} (+https://github.com/ticker-archive/ticker; news ticker archiver)"
