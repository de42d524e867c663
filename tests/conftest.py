"""Shared fixtures: a real SQLite file in tmp_path, a real local HTTP server, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

from ticker.cli import main
from ticker.scraper import bounded

FIXTURES = Path(__file__).parent / "fixtures"

# Property tests draw the same examples on every run, so a submission's CI cannot fail by chance;
# explore new examples with `--hypothesis-seed=N` (or HYPOTHESIS_EXPLORE=1).
settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("HYPOTHESIS_EXPLORE") else "fixed")

# The story matcher's sentence embedder costs ~17 ms of CPU a new title: tests that poll big pages
# would spend most of their time on it. It is off for the suite (and the processes it starts);
# the tests of the matcher and of the stored vectors turn it back on (`embedder` fixture).
os.environ["TICKER_NO_EMBEDDER"] = "1"


@pytest.fixture
def embedder(monkeypatch):
    """The shipped embedder on, as in production."""
    monkeypatch.delenv("TICKER_NO_EMBEDDER")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ticker.db"


@pytest.fixture
def fixture_bytes():
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture
def cli():
    """Run `ticker ARGS...` in-process through Click's runner; returns the Result."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


def run_ticker(*args: str, timeout: float = 60, env: dict | None = None, cwd: Path | None = None):
    """Run `ticker ARGS...` as a real subprocess (same interpreter)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ticker", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver on 127.0.0.1, not `localhost`: a name that may resolve to ::1 first
    could reach another process's server on the same port number."""
    return ("127.0.0.1", 0)


class _PatchSeenByParseWorkers(pytest.MonkeyPatch):
    """Parsers run in forked worker processes (ticker.scraper.bounded), which see this process
    as it was when they were forked: every patch and undo ends the idle workers, so the next
    parse forks one that sees the patched (or restored) code."""

    def setattr(self, *args, **kwargs) -> None:
        super().setattr(*args, **kwargs)
        bounded.stop_workers()

    def delattr(self, *args, **kwargs) -> None:
        super().delattr(*args, **kwargs)
        bounded.stop_workers()

    def setitem(self, *args, **kwargs) -> None:
        super().setitem(*args, **kwargs)
        bounded.stop_workers()

    def undo(self) -> None:
        super().undo()
        bounded.stop_workers()


@pytest.fixture
def monkeypatch():
    """pytest's monkeypatch, seen by the parse workers too."""
    patch = _PatchSeenByParseWorkers()
    yield patch
    patch.undo()
