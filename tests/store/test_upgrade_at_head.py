"""A database already at the head is opened without Alembic; one behind is still migrated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from breakglass import store
from breakglass.store.db import MIGRATIONS_DIR, script_head


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'bg.db').as_posix()}"


def _upgrade_in_fresh_process(url: str) -> str:
    code = (
        "import sys\n"
        "from breakglass import store\n"
        f"store.upgrade({url!r})\n"
        "print('alembic' in sys.modules, store.current_revision.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_script_head_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert script_head() == ScriptDirectory.from_config(config).get_current_head()


def test_upgrade_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    url = _url(tmp_path)
    store.upgrade(url)
    assert _upgrade_in_fresh_process(url) == "False current_revision"
    assert store.current_revision(url) == script_head()


def test_upgrade_behind_head_still_migrates(tmp_path: Path) -> None:
    url = _url(tmp_path)
    store.upgrade(url, "0001")
    assert _upgrade_in_fresh_process(url) == "True current_revision"
    assert store.current_revision(url) == script_head()


def test_upgrade_of_a_new_database_migrates(tmp_path: Path) -> None:
    url = _url(tmp_path)
    assert _upgrade_in_fresh_process(url) == "True current_revision"
    assert store.current_revision(url) == script_head()
