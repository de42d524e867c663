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


def pytest_collection_modifyitems(config, items) -> None:
    """Soak variants (`slow`) run only when the marker expression names `slow` explicitly:
    `pytest -m reliability` (which replaces the default `-m 'not slow'`) must stay short."""
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="soak variant: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
