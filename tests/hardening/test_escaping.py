"""Finding 10: token names and event fields reached Slack, Telegram, Discord and the terminal
unescaped: ``<!channel>`` pinged everyone, ``[text](url)`` hid a link, and ANSI escapes
rewrote the responder's screen. Every interpolated value is now made inert, per channel."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import apprise
from apprise.conversion import convert_between
from apprise.plugins.slack import NotifySlack

from breakglass import store
from breakglass.incidents import service
from breakglass.logs import configure_logging, get_logger
from breakglass.notify.render import for_channel, render
from breakglass.plan import load_plan

TOKEN_NAME = (
    "<!channel> <@U024BE7LH> <https://evil.example|Claim refund> "
    "[Claim refund](https://evil.example) ![x](https://evil.example/p.png) "
    "@everyone @here <b>bold</b> \\[still](javascript:alert(1)) "
    "\x1b[2J\x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \u202eevil\r"
)
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _message() -> tuple[str, str]:
    context = {
        "title": f"Large outflow of {TOKEN_NAME}",
        "rule": "large-outflow",
        "description": f"Transfer of 1e24 {TOKEN_NAME} to {TOKEN_NAME}",
        "addresses": [TOKEN_NAME, "0xabc"],
        "severity": "critical",
        "funds": "at_risk",
        "funds_at_risk_usd": 1_000_000,
    }
    message = render("alert", context, now=NOW)
    return message.title, message.body


def _slack_pings(text: str) -> list[str]:
    # What Apprise's Slack plugin turns into pings and links after its own escaping.
    escaped = text
    for pattern, replacement in NotifySlack._re_formatting_map.items():
        escaped = re.sub(pattern, replacement, escaped)
    found = []
    for regex in (
        NotifySlack._re_channel_support,
        NotifySlack._re_user_id_support,
        NotifySlack._re_url_support,
    ):
        found += [m[0] for m in regex.findall(escaped)]
    return found


def test_no_control_characters_reach_any_channel() -> None:
    title, body = _message()
    for text in (title, body):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text), repr(text)
    assert "funds are at risk (about $1,000,000)" in body.lower()  # templates still work


def test_slack_gets_no_channel_ping_mention_or_link() -> None:
    title, body = _message()
    for text in (for_channel("slack", title), for_channel("slack", body)):
        assert _slack_pings(text) == []
        # Slack has no backslash escapes (nor [text](url) links): the value reads as written
        assert "[Claim refund](https://evil.example)" in text


def test_markdown_channels_get_no_link_image_or_html() -> None:
    _title, body = _message()
    for target in (apprise.NotifyFormat.HTML,):  # Telegram, Matrix, e-mail read HTML
        html = convert_between(apprise.NotifyFormat.MARKDOWN, target, body)
        assert not re.search(r"<a\b|<img\b|<b>", html), html
    assert "@everyone" not in body and "@here" not in body  # Discord pings
    assert not re.search(r"(?<!\\)\[[^\]]*\]\(", body)  # no unescaped Markdown link


def test_the_terminal_gets_no_escape_sequence(tmp_path: Path) -> None:
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(
        "protocol: Acme\npeople: {lea: {name: Lea}}\nroles: {incident_lead: [lea]}\n"
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        service.open_incident(
            session,
            load_plan(plan_file).plan,
            title=f"Outflow of {TOKEN_NAME}",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=NOW,
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {"BREAKGLASS_DATABASE_URL": url, "NO_COLOR": "1", "TERM": "dumb"}
    for args in (["incident", "list"], ["incident", "show", "1"]):
        done = subprocess.run(
            [sys.executable, "-m", "breakglass", *args],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert b"Outflow of" in done.stdout
        assert b"\x1b" not in done.stdout + done.stderr
        assert b"\r" not in done.stdout + done.stderr


def test_log_lines_carry_no_escape_sequence() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "console", stream)
    get_logger("test").warning("alert.raised", title=f"Outflow of {TOKEN_NAME}")
    line = stream.getvalue()
    assert "Outflow of" in line
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", line.rstrip("\n")), repr(line)
