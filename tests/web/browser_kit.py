"""What the dashboard's browser tests share: the app served by uvicorn on a free loopback port
in a thread, Debian's Chromium (never a downloaded browser) and the page-width measure."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
LAPTOP: ViewportSize = {"width": 1366, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` served on a free loopback port until the block ends; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start the dashboard", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def relaying(sessions: sessionmaker[Session]) -> Iterator[None]:
    """What the monitor process runs beside the server: the outbox relay and incidents'
    timeline consumer, so steps approved on the dashboard reach the timeline (a GET never
    writes)."""
    from breakglass.events import InProcessBus, OutboxRelay  # noqa: PLC0415
    from breakglass.incidents import response_log  # noqa: PLC0415

    bus = InProcessBus()
    response_log.subscribe(bus, sessions)
    relay = OutboxRelay(sessions, bus, idle=0.2)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(relay.run(stop),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless system Chromium; fails (never skips) when it is missing: CI installs it."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def page_width(page: Page) -> int:
    """How wide the page scrolls (``document.scrollingElement.scrollWidth``)."""
    width: int = page.evaluate("document.scrollingElement.scrollWidth")
    return width


def overflowing(page: Page, width: int) -> list[str]:
    """The innermost elements reaching past ``width`` px, to say what widened the page (on a
    mobile viewport the page widens with them, so the window's own width cannot tell)."""
    found: list[str] = page.evaluate(
        """(width) => {
            // Past the width itself, or holding text that runs past its own box.
            const spills = e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
                && getComputedStyle(e).overflowX === 'visible';
            const wide = e => e.getBoundingClientRect().right > width + 1 || spills(e);
            return Array.from(document.querySelectorAll('body *'))
                .filter(e => wide(e) && !Array.from(e.children).some(wide))
                .slice(0, 5)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                     + (typeof e.className === 'string' && e.className ? '.' + e.className : '')
                     + ': ' + (e.textContent || '').trim().slice(0, 40));
        }""",
        width,
    )
    return found
