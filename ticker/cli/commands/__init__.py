"""One module per CLI command: a few lines of glue over the library."""
