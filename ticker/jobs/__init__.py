"""The work on a source: fetch, poll, backfill, import, re-parse, progress, the source specs and citations; imports core, scraper, db, kinds and stories."""
