"""Shared fixtures: the real model and the real CIFAR-10 copy in ../shared.

Nothing is mocked. One cache dir per test session (converted once, ~5 s).
Set R8_TEST_CACHE to reuse a cache between local runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.types import Dataset
from engine.workspace import Workspace


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reuse = os.environ.get("R8_TEST_CACHE")
    return Path(reuse) if reuse else tmp_path_factory.mktemp("r8-cache")


@pytest.fixture(scope="session")
def ws(cache_dir: Path) -> Workspace:
    """The workspace on the real model and data, found the way a user's would be."""
    return Workspace.open(cache_dir=str(cache_dir), download=False)


@pytest.fixture(scope="session")
def test_set(ws: Workspace) -> Dataset:
    return ws.test_set


@pytest.fixture(scope="session")
def onnx_path(ws: Workspace) -> Path:
    return ws.onnx_path()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failure here: every test must run (CI included)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        session.exitstatus = 1
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; skips are not allowed")
