"""The OpenZeppelin Monitor configuration written for these tests (``oz_config/``), copied
with the watched token's address filled in."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

CONFIG = Path(__file__).with_name("oz_config")
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

ConfigCopy = Callable[..., Path]


@pytest.fixture
def oz_config(tmp_path: Path) -> ConfigCopy:
    """``oz_config(token=..., into=...)``: a fresh copy of the configuration directory."""

    def copy(token: str = TOKEN, into: str = "config") -> Path:
        root = tmp_path / into
        shutil.copytree(CONFIG, root)
        for monitor in (root / "monitors").glob("*.json"):
            monitor.write_text(monitor.read_text().replace("__TOKEN__", token))
        return root

    return copy
