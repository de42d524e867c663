"""The documentation is checked against the code, so it cannot drift: every table and column of a
real database is described in docs/schema.md (and nothing that does not exist), every migration is
listed, every source kind is in docs/sources.md, and every command the README shows exists."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest

from ticker.cli import COMMANDS, SUMMARIES, command_summary, main
from ticker.db.schema import MIGRATION_NAMES, open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.kinds import kinds
from ticker.scraper.http import make_client

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DOC = (ROOT / "docs" / "schema.md").read_text()
# Tables ticker creates that are described elsewhere or are SQLite's own machinery.
NOT_DESCRIBED = {"_sqlite_migrations"}


def sections(text: str) -> dict[str, str]:
    """`## \\`name\\`` (or `## \\`a\\` and \\`b\\``) heading -> the text under it, per table named."""
    found: dict[str, str] = {}
    parts = re.split(r"^## ", text, flags=re.M)
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        for name in re.findall(r"`([a-z_]+)`", heading.split(":")[0]):
            found[name] = body
    return found


def documented_columns(body: str) -> set[str]:
    """Column names in the first column of a `| column | meaning |` table, or in backticks in
    prose when the section has no such table."""
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    if rows:
        return {name for row in rows for name in re.findall(r"`([a-z_0-9]+)`", row.split("|")[1])}
    return set(re.findall(r"`([a-z_0-9]+)`", body))


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    db = open_db(tmp_path_factory.mktemp("docs") / "ticker.db")
    yield db
    db.conn.close()


def real_tables(db) -> dict[str, list[str]]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'headline_titles_fts_%'"
        ).fetchall()
    ]
    return {name: [c[1] for c in db.execute(f'PRAGMA table_info("{name}")').fetchall()] for name in names}


def test_every_table_and_column_is_described(database):
    described = sections(SCHEMA_DOC)
    tables = real_tables(database)
    missing_tables = sorted(set(tables) - set(described) - NOT_DESCRIBED)
    assert not missing_tables, f"tables not in docs/schema.md: {missing_tables}"
    problems = []
    for table, columns in tables.items():
        if table in NOT_DESCRIBED or table.endswith("_fts"):
            continue
        documented = documented_columns(described[table])
        undocumented = [column for column in columns if column not in documented]
        if undocumented:
            problems.append(f"{table}: {undocumented} not described")
    assert not problems, "\n".join(problems)


def test_no_documented_column_is_made_up(database):
    tables = real_tables(database)
    for table, body in sections(SCHEMA_DOC).items():
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        if table not in tables or not rows:
            continue
        ghosts = documented_columns(body) - set(tables[table])
        assert not ghosts, f"docs/schema.md describes {table}.{sorted(ghosts)}, which does not exist"


def test_every_migration_is_listed():
    listed = set(re.findall(r"`(\d{4}_[a-z_]+)`", SCHEMA_DOC))
    assert set(MIGRATION_NAMES) <= listed, sorted(set(MIGRATION_NAMES) - listed)


def test_every_view_is_described(database):
    views = [row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'view'")]
    queries_doc = (ROOT / "docs" / "queries.md").read_text()
    assert views
    assert not [view for view in views if f"`{view}`" not in queries_doc]


def test_every_kind_is_described_in_sources_doc():
    text = (ROOT / "docs" / "sources.md").read_text()
    for kind in kinds().values():
        assert f'kind = "{kind.name}"' in text or f"`{kind.name}`" in text, kind.name
        for channel in kind.channels:
            assert f"`{channel.name}`" in text, f"{kind.name}/{channel.name}"


def test_every_command_the_readme_shows_exists():
    readme = (ROOT / "README.md").read_text()
    code = "\n".join(re.findall(r"^```(?:sh|bash)?\n(.*?)^```", readme, flags=re.M | re.S))
    shown = set(re.findall(r"(?:^|&& |\.venv/bin/)ticker ([a-z][a-z-]+)", code, flags=re.M))
    assert {"fetch", "run", "serve"} <= shown
    assert shown <= set(main.list_commands(None)), sorted(shown - set(main.list_commands(None)))


def _mentions(text: str) -> list[str]:
    """Every `ticker ...` command line the text shows: in code blocks, and in `backticks`."""
    lines, fence = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
        elif fence in ("", "sh", "bash", "console"):
            lines.append(line.split("#")[0])
    spans = re.findall(r"`(ticker [^`\n]+)`", text)
    return [
        m.group(0) for line in lines + spans for m in re.finditer(r"(?<![\w/-])ticker [a-z][^|;&]*", line)
    ]


def _command(words: list[str]):
    """The Click command a `ticker a b ...` line names, and the rest of its words."""
    import click

    command = main
    rest = list(words)
    while rest and isinstance(command, click.Group) and not rest[0].startswith("-"):
        found = command.get_command(None, rest[0])
        if found is None:
            return None, rest
        command, rest = found, rest[1:]
    return command, rest


@pytest.mark.parametrize("doc", ["README.md", "docs/queries.md", "docs/evidence.md", "docs/deployment.md"])
def test_every_command_and_option_the_docs_name_exists(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    problems = []
    for line in _mentions(text):
        words = line.split()[1:]
        command, rest = _command(words)
        if command is None:
            problems.append(f"{line!r}: no command {rest[0]!r}")
            continue
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts} | {"--help"}
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", " ".join(rest)):
            if option not in options:
                problems.append(f"{line!r}: {' '.join(words[: len(words) - len(rest)])} has no {option}")
    assert not problems, "\n".join(problems)


def _adding_a_kind_example() -> str:
    """The Python block of docs/sources.md's "Adding a source kind"."""
    text = (ROOT / "docs" / "sources.md").read_text()
    section = text.split("## Adding a source kind", 1)[1].split("\n## ", 1)[0]
    return re.search(r"^```python\n(.*?)^```", section, flags=re.M | re.S).group(1)


def test_the_adding_a_kind_example_is_a_working_kind(monkeypatch, httpserver, tmp_path):
    """Following the page gives a kind that registers, polls, and keeps two outlets' bare ids apart."""
    module = types.ModuleType("ticker.kinds.example")
    exec(compile(_adding_a_kind_example(), "docs/sources.md", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(kinds(), "example", module.KIND)
    db = open_db(tmp_path / "t.db")
    for outlet in ("outlet_a", "outlet_b"):
        items = [
            {"id": 12345, "title": f"{outlet}: one", "href": "/n/1"},
            {"id": 12346, "title": "two", "href": "/n/2"},
        ]
        httpserver.expect_request(f"/{outlet}").respond_with_json({"items": items})
        spec = SourceSpec(name=outlet, kind="example", url=httpserver.url_for(f"/{outlet}"))
        with make_client() as client:
            assert poll(db, client, spec).outcome == "ok"
    stored = dict(db.execute("SELECT id, title FROM headlines").fetchall())
    assert stored == {
        "outlet_a:12345": "outlet_a: one",
        "outlet_a:12346": "two",
        "outlet_b:12345": "outlet_b: one",
        "outlet_b:12346": "two",
    }


def test_help_summaries_are_each_commands_own_first_sentence():
    """`ticker --help` reads SUMMARIES instead of importing every command: each must say what the
    command's own help says, and every visible command must have one."""
    ctx = click.Context(main)
    for name in sorted(COMMANDS):
        command = main.get_command(ctx, name)
        if command.hidden:
            assert name not in SUMMARIES, f"{name} is hidden but has a --help summary"
            continue
        wanted = command_summary(command)
        assert SUMMARIES.get(name) == wanted, f"ticker/cli/__init__.py SUMMARIES needs: {name!r}: {wanted!r},"
    assert set(SUMMARIES) <= set(COMMANDS)


def test_help_imports_no_command_module():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom ticker.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\nassert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('ticker.cli.commands.')))\nprint(result.output)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, _, output = done.stdout.partition("\n")
    assert imported == "[]"
    assert "What changed in a window." in output and "Fetch SOURCE once" in output
