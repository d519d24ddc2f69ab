"""Filter scripts of the external-filter rule: OpenZeppelin Monitor's contract (JSON on stdin,
the last line decides, ``true`` drops the match), and a broken or slow script keeps it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from breakglass.detect.rules.yaml.external_filter import FilterScript, run_filter
from breakglass.logs import configure_logging

SCRIPTS = {
    "drops": "import json, sys\n"
    "assert json.load(sys.stdin)['args'] == ['--x']\n"
    "print('x')\nprint('true')",
    "keeps": "import sys\nsys.stdin.read()\nprint('TRUE-ish')\nprint(' false ')",
    "slow": "import time\ntime.sleep(5)\nprint('true')",
    "fails": "import sys\nprint('true')\nsys.exit(3)",
    "mumbles": "print('maybe')",
}


@pytest.mark.parametrize(
    ("name", "kept", "logged"),
    [
        ("drops", False, None),
        ("keeps", True, None),
        ("slow", True, "detect.filter_timeout"),
        ("fails", True, "detect.filter_failed"),
        ("mumbles", True, "detect.filter_failed"),
    ],
)
def test_the_last_line_decides_and_trouble_keeps_the_match(
    tmp_path: Path, name: str, kept: bool, logged: str | None
) -> None:
    logs = io.StringIO()
    configure_logging("DEBUG", "json", stream=logs)
    script = tmp_path / f"{name}.py"
    script.write_text(SCRIPTS[name])
    config = FilterScript(script=script, language="python", arguments=["--x"], timeout_ms=400)
    assert run_filter(config, {"EVM": {}}, rule="r") is kept
    if logged:
        assert logged in logs.getvalue()


def test_a_script_the_plan_names_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such script"):
        FilterScript.model_validate(
            {"script": "filters/gone.py", "language": "python"}, context={"base_dir": tmp_path}
        )
