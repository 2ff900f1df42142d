"""Shared fixtures: the real model and the real CIFAR-10 copy in ../shared.

Nothing is mocked. One cache dir per test session (converted once, ~5 s).
Set R8_TEST_CACHE to reuse a cache between local runs.

The suite reads its CPU flags from tests/cpuinfo_without_vnni.txt (R8_CPUINFO), so the automatic
reduce_range is on for the u8-activation variants on every machine and the int8 figures the tests
and snapshots check are the same with and without VNNI (set R8_CPUINFO to another file to run the
suite as another CPU would).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("R8_CPUINFO", str(Path(__file__).with_name("cpuinfo_without_vnni.txt")))

from engine.types import Dataset  # noqa: E402
from engine.workspace import Workspace  # noqa: E402


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
