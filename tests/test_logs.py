"""Secrets never reach a log line, whatever field or format carries them."""

from __future__ import annotations

import io

import orjson
import pytest

from breakglass.logs import configure_logging, get_logger, register_secret

KEY = "0x" + "5e" * 32


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_registered_secret_is_masked_everywhere(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", fmt, stream=stream)
    register_secret(KEY)
    log = get_logger("test")
    log.info("signing", detail=f"key is {KEY}", nested={"inner": [KEY]}, raw=bytes.fromhex(KEY[2:]))
    log.info(f"message with {KEY}")
    output = stream.getvalue()
    assert "signing" in output
    assert KEY[2:] not in output
    assert "***" in output


def test_secret_named_fields_are_masked() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    get_logger("test").info(
        "connect", password="pw-unregistered", api_key="k-unregistered", chain="mainnet"
    )
    record = orjson.loads(stream.getvalue().splitlines()[-1])
    assert record["password"] == "***"
    assert record["api_key"] == "***"
    assert record["chain"] == "mainnet"
    assert record["level"] == "info"


def test_level_filters() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "json", stream=stream)
    log = get_logger("test")
    log.info("quiet")
    log.warning("loud")
    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()
