"""`ticker serve`: Datasette on the live database, read-only, with ticker's metadata, canned
queries, SQL time functions and charts (ticker/web/)."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ticker.cli import locate
from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options

if TYPE_CHECKING:
    from datasette.app import Datasette

DATASETTE_DIR = Path(__file__).resolve().parents[2] / "web"
_MSK_PLACEHOLDER = re.compile(r"\{msk:([\w.]+)\}")
METADATA_DB_KEY = "ticker"


def canned_sql(sql: str) -> str:
    """A canned query's SQL with `{success_outcomes}`, `{default_source}` and `{msk:COLUMN}`
    replaced by their one definitions (SUCCESS_SQL, db.front.DEFAULT_SOURCE_SQL, and
    db.views.moscow_sql labelled ` MSK`: what ticker_msk() shows, in SQL, for a query that reads
    thousands of rows or sorts them after computing it)."""
    from ticker.core.base import SUCCESS_SQL
    from ticker.db.front import DEFAULT_SOURCE_SQL
    from ticker.db.views import moscow_sql

    sql = sql.replace("{success_outcomes}", SUCCESS_SQL)
    sql = sql.replace("{default_source}", " ".join(DEFAULT_SOURCE_SQL.split()))
    return _MSK_PLACEHOLDER.sub(lambda found: f"({moscow_sql(found.group(1))} || ' MSK')", sql)


def load_metadata(database_name: str) -> dict[str, Any]:
    """metadata.yml with its database key and chart databases set to the served database's name,
    and each canned query's SQL completed by `canned_sql`."""
    import yaml

    metadata = yaml.safe_load((DATASETTE_DIR / "metadata.yml").read_text(encoding="utf-8"))
    databases = metadata.get("databases", {})
    for database in databases.values():
        for query in database.get("queries", {}).values():
            query["sql"] = canned_sql(query["sql"])
    if METADATA_DB_KEY in databases and database_name != METADATA_DB_KEY:
        databases[database_name] = databases.pop(METADATA_DB_KEY)
    for dashboard in metadata.get("plugins", {}).get("datasette-dashboards", {}).values():
        for chart in dashboard.get("charts", {}).values():
            if chart.get("db") == METADATA_DB_KEY:
                chart["db"] = database_name
    return metadata


def make_datasette(db_path: str | Path) -> Datasette:
    """A Datasette instance on the database file: opened read-only (never immutable, so new rows
    show at once), with ticker's metadata, canned queries, SQL functions and dashboards."""
    import importlib

    from datasette.app import Datasette

    # With `rich` installed (ticker's progress bars use it) Datasette prints every 4xx as a
    # traceback with its local variables to stdout: screens of text, query values included, per
    # mistyped address, and a server whose stdout nobody reads stops answering once the pipe is
    # full. Without it Datasette prints only real (500) errors, to stderr.
    # (Imported after datasette.app, which registers Datasette's own plugins: imported first, the
    # module would be registered half-initialised, without its handler.)
    importlib.import_module("datasette.handle_exception").rich = None
    path = Path(db_path).resolve()
    return Datasette(
        [str(path)],
        metadata=load_metadata(path.stem),
        plugins_dir=str(DATASETTE_DIR / "plugins"),
        template_dir=str(DATASETTE_DIR / "templates"),
        # No suggested facets: each table page would try a facet on every column, over the whole
        # history (4 s of a ten-year `fetches` page, benchmarks/queries.py).
        settings={"sql_time_limit_ms": 5000, "suggest_facets": False},
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one `Error:` line saying why not (taken port, an
    address that is not this machine's, a name that does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise click.ClickException(f"cannot serve on host {host!r}: {reason}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is already in use: choose another with --port"
            ) from None
        raise click.ClickException(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    return sock


def _serve(db_path: str, host: str, port: int) -> None:
    import uvicorn  # lazy: only `ticker serve` pays for the server

    listening = bind_socket(host, port)
    ds = make_datasette(db_path)
    if _exposed(host):
        click.echo(
            f"Warning: listening on {host}: anyone who can reach this machine can read the database "
            "and run SQL on it. Use --host 127.0.0.1 to keep it local.",
            err=True,
        )
    click.echo(
        f"Serving {db_path} at http://{host}:{listening.getsockname()[1]}/ (charts: /-/dashboards/ticker); Ctrl-C stops.",
        err=True,
    )
    config = uvicorn.Config(ds.app(), log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[listening])


def _exposed(host: str) -> bool:
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


@click.command(
    epilog="\b\nExamples:\n  ticker serve                # the database of ./ticker.toml, or ticker.db\n  ticker serve --db ticker.db\n  ticker serve --port 8002   "
    "# then open http://127.0.0.1:8002/-/ticker?source=rbc&at=2024-11-25T18:57"
)
@config_options
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 exposes it to the network.",
)
@click.option(
    "--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
def serve(config_path: str | None, db_path: str | None, host: str, port: int) -> None:
    """Browse and query the history in Datasette (read-only): the ticker at a moment
    (/-/ticker), each headline's life (/-/headline/ID), canned queries, full-text search of
    every title, charts at /-/dashboards/ticker. Times typed are ISO 8601, Moscow time when no
    zone is given. Ctrl-C (or SIGTERM) stops it, exit status 0, as `ticker run`."""
    from ticker.db.queries import NotReady, open_history

    db_path = str(locate.database(config_path, db_path).db)
    with user_errors(db_path):
        try:
            open_history(db_path).close()
        except NotReady as error:
            raise click.ClickException(str(error)) from None
    # Ctrl-C at any point from here (starting up, serving; uvicorn stops gracefully, then raises
    # SIGINT again) ends the command quietly with status 0, as `ticker run`.
    with contextlib.suppress(KeyboardInterrupt):
        _serve(db_path, host, port)
    click.echo("Stopped.", err=True)
