"""Fixtures for chain tests: fault-injecting proxies in front of the module's anvil."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_faultproxy():
    # Tests run with --import-mode=importlib, so a sibling module is loaded by path.
    name = "breakglass_tests_faultproxy"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("faultproxy.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


faultproxy = _load_faultproxy()


@pytest.fixture(scope="module")
def proxies(anvil):
    """Three proxies to the module's anvil; each test gets them back in ``pass`` mode."""
    started = [faultproxy.FaultProxy(anvil.http_url).start() for _ in range(3)]
    yield started
    for proxy in started:
        proxy.stop()


@pytest.fixture
def proxy_trio(proxies):
    for proxy in proxies:
        proxy.mode = "pass"
        proxy.up()
    return proxies
