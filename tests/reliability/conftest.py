"""Fixtures of the fault-injection suite (helpers live in support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reliability.faultserver import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()
