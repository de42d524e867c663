"""Shared fixtures: a real SQLite file in tmp_path, a real local HTTP server, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ticker.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


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
