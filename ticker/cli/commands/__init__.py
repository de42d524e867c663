"""One module per CLI command: a few lines of glue over the library.

Documented lazy load: each command imports the library it needs (the database, the jobs, the
parsers, Datasette, APScheduler) inside its own function, so that `ticker fetch` pays for none of
the daemon's or the browser's modules and every `--help` for none at all (benchmarks/startup.py).
"""
