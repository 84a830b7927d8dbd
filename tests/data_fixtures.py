"""Fixtures for the dataset-download tests: a local HTTP server, a fresh data folder, no internet.

Registered for every test folder by ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.data.download import MIRROR_VARIABLE
from tests.core.data.http_server import LocalServer, bypass_proxies


@pytest.fixture
def no_internet(monkeypatch):
    """Connections anywhere but this computer fail at once, whatever a test asks."""
    import socket

    connect = socket.create_connection

    def local_only(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise OSError(f"test tried to reach {address[0]}")
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_only)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh data folder, no mirror from the environment, no proxy between us and 127.0.0.1."""
    folder = tmp_path / "data"
    monkeypatch.setenv("LAYERWISE_DATA_DIR", str(folder))
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)
    bypass_proxies(monkeypatch)
    return folder


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running
