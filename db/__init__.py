"""The SQLite side: schema and migrations, writes, views."""
