"""Vulnerability news: real-format feeds and advisories served from a loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from breakglass.cli import news as news_cli
from breakglass.plan.models import Plan
from breakglass.report.news import NewsPost, NewsStore, fetch_news
from breakglass.report.news_parse import NewsParseError, parse_feed, parse_ghsa, parse_osv
from breakglass.report.news_ranges import parse_range, parse_version, range_affects

FIXTURES = Path(__file__).parent / "fixtures" / "news"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(FIXTURES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _plan_data(base: str, **extra_sources: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "protocol": "Fixture",
        "people": {"bob": {"name": "Bob Stone"}, "carol": {"name": "Carol Nguyen"}},
        "channels": {"security-news": "json://127.0.0.1:9/news"},
        "news_sources": {
            "channel": "security-news",
            "components": {
                "openzeppelin": {
                    "kind": "library",
                    "owner": "bob",
                    "version": "4.9.6",
                    "package": "npm:@openzeppelin/contracts",
                    "sources": [
                        {"name": "OSV", "url": f"{base}/osv-affected.json", "kind": "osv"},
                        {"name": "GHSA", "url": f"{base}/ghsa.json", "kind": "ghsa"},
                        {"name": "OSV dir", "url": str(FIXTURES / "osv"), "kind": "osv-dir"},
                        *extra_sources.get("openzeppelin", []),
                    ],
                },
                "solidity": {
                    "kind": "compiler",
                    "owner": "carol",
                    "version": "0.8.26",
                    "sources": [
                        {"name": "Solidity blog", "url": f"{base}/solidity.rss", "kind": "rss"},
                        *extra_sources.get("solidity", []),
                    ],
                },
                "foundry": {
                    "kind": "toolchain",
                    "sources": [
                        {"name": "Foundry", "url": f"{base}/foundry.atom", "kind": "atom"},
                        {"name": "Bugs list", "url": f"{base}/nowhere", "kind": "page"},
                    ],
                },
            },
        },
    }


def _fetch(plan: Plan, store: NewsStore) -> tuple[Any, list[NewsPost]]:
    posts: list[NewsPost] = []
    report = fetch_news(
        plan, store, post=posts.append, clock=lambda: datetime(2025, 3, 1, tzinfo=UTC)
    )
    return report, posts


def test_second_fetch_stores_nothing_new(server: str, tmp_path: Path) -> None:
    plan = Plan.model_validate(_plan_data(server))
    report, posts = _fetch(plan, NewsStore(tmp_path / "news.json"))
    assert report.errors == [] and len(posts) == 4
    keys = {(i.component, i.key) for i in report.new}
    # GHSA-9vx6-7xxf-x967 comes from both the GHSA list and the OSV directory: stored once.
    assert sum(key == "GHSA-9vx6-7xxf-x967" for _, key in keys) == 1
    assert len(report.new) == 8 and report.seen == 9
    again, posts_again = _fetch(plan, NewsStore(tmp_path / "news.json"))
    assert again.new == [] and posts_again == [] and again.seen == 9
    assert len(NewsStore(tmp_path / "news.json").items()) == 8
    assert all(
        i.first_seen.startswith("2025-03-01") for i in NewsStore(tmp_path / "news.json").items()
    )


def test_advisories_flagged_by_version_range(server: str, tmp_path: Path) -> None:
    plan = Plan.model_validate(_plan_data(server))
    report, _ = _fetch(plan, NewsStore(tmp_path / "news.json"))
    flags = {i.key: i.affects for i in report.new if i.component == "openzeppelin"}
    assert flags == {
        "GHSA-7q9x-bg3w-mf6p": True,  # OSV SEMVER range 4.0.0 ≤ v < 4.9.7
        "GHSA-p2r4-9xq7-wm3c": True,  # GHSA ">= 4.7.0, < 4.9.7"
        "GHSA-q7r4-2m9v-hc8w": True,  # OSV versions list
        "GHSA-9vx6-7xxf-x967": False,  # fixed in 4.9.6
    }


def test_feed_items_parse_and_mentions_flag(server: str, tmp_path: Path) -> None:
    rss = parse_feed((FIXTURES / "solidity.rss").read_bytes())
    assert [e.title for e in rss] == [
        "Solidity 0.8.27 Release Announcement",
        "Transient storage clearing helper collision bug",
    ]
    assert rss[0].url and rss[0].url.startswith("https://soliditylang.org/blog/2024/09/04/")
    assert rss[0].published == datetime(2024, 9, 4, tzinfo=UTC)
    atom = parse_feed((FIXTURES / "foundry.atom").read_bytes())
    assert atom[1].title == "Foundry v1.0.1"
    assert atom[1].url == "https://github.com/foundry-rs/foundry/releases/tag/v1.0.1"
    assert atom[1].published == datetime(2025, 3, 14, 12, tzinfo=UTC)
    assert atom[1].id.endswith("/v1.0.1") and "anvil" in atom[1].summary

    report, _ = _fetch(Plan.model_validate(_plan_data(server)), NewsStore(tmp_path / "n.json"))
    solidity = {i.title: i.affects for i in report.new if i.component == "solidity"}
    assert solidity == {
        "Solidity 0.8.27 Release Announcement": False,
        "Transient storage clearing helper collision bug": True,
    }
    assert not any(i.affects for i in report.new if i.component == "foundry")  # no version


def test_unreachable_and_malformed_sources_reported_per_source(server: str, tmp_path: Path) -> None:
    extra = {
        "openzeppelin": [
            {"name": "Down", "url": f"http://127.0.0.1:{_closed_port()}/x.json", "kind": "osv"},
            {"name": "Broken JSON", "url": f"{server}/broken.json", "kind": "ghsa"},
            {"name": "Missing", "url": f"{server}/missing.json", "kind": "osv"},
        ],
        "solidity": [{"name": "Broken XML", "url": f"{server}/broken.rss", "kind": "rss"}],
    }
    report, posts = _fetch(
        Plan.model_validate(_plan_data(server, **extra)), NewsStore(tmp_path / "n.json")
    )
    errors = {e.source: e.message for e in report.errors}
    assert set(errors) == {"Down", "Broken JSON", "Missing", "Broken XML"}
    assert errors["Down"].startswith("unreachable: ConnectError")
    assert errors["Broken JSON"].startswith("malformed JSON")
    assert errors["Missing"].startswith("HTTP 404")
    assert errors["Broken XML"].startswith("malformed feed")
    assert len(report.new) == 8 and len(posts) == 4  # the other sources still ran


def test_posts_go_to_channel_and_owner(server: str, tmp_path: Path) -> None:
    report, posts = _fetch(Plan.model_validate(_plan_data(server)), NewsStore(tmp_path / "n.json"))
    assert {p.channel for p in posts} == {"security-news"}
    by_title = {p.title: p for p in posts}
    assert {p.owner for p in posts if p.title.startswith("[openzeppelin]")} == {"bob"}
    bug = by_title["[solidity] Transient storage clearing helper collision bug"]
    assert bug.owner == "carol" and bug.body.startswith("Carol Nguyen:")
    assert bug.url and "transient-storage" in bug.url
    assert report.posts == posts and len(posts) == 4


def test_dry_run_stores_and_posts_nothing(server: str, tmp_path: Path) -> None:
    posts: list[NewsPost] = []
    store = NewsStore(tmp_path / "n.json")
    report = fetch_news(
        Plan.model_validate(_plan_data(server)), store, post=posts.append, dry_run=True
    )
    assert len(report.new) == 8 and report.posts and posts == []
    assert not (tmp_path / "n.json").exists()


def test_readers_reject_the_wrong_format() -> None:
    with pytest.raises(NewsParseError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>Advisories</body></html>")
    with pytest.raises(NewsParseError, match="every record needs a string 'ghsa_id'"):
        parse_ghsa((FIXTURES / "osv-affected.json").read_bytes())
    assert parse_osv(b'{"vulns": []}') == []


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        (">= 4.0.0, < 4.9.3", "4.9.6", False),
        (">= 4.0.0, < 4.9.7", "4.9.6", True),
        ("= 4.9.6", "4.9.6", True),
        ("<= 4.9.5", "4.9.6", False),
        ("^4.0.0", "4.9.6", True),
        ("^0.8.0", "0.9.0", False),
        ("~4.9.0", "4.10.0", False),
        ("4.9.x", "4.9.6", True),
        ("4.0.0 - 4.9", "4.9.6", True),
        (">=1 <2 || 4.x", "4.9.6", True),
        (">= 5.0.0-rc.0, < 5.0.2", "5.0.0-rc.1", True),
    ],
)
def test_ranges(text: str, version: str, expected: bool) -> None:
    parsed = parse_version(version)
    assert parsed is not None
    assert range_affects(text, parsed) is expected


def test_unreadable_range_raises() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        parse_range(">= banana")


def test_cli_fetch_dry_run_and_list(server: str, tmp_path: Path) -> None:
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(yaml.safe_dump(_plan_data(server)), encoding="utf-8")
    app = typer.Typer()
    app.add_typer(news_cli.app, name="news")
    runner = CliRunner()
    store = str(tmp_path / "news.json")
    result = runner.invoke(
        app, ["news", "fetch", "-p", str(plan_file), "--dry-run", "--store", store]
    )
    assert result.exit_code == 0, result.output
    assert "Transient" in result.output and "dry run" in result.output
    assert not (tmp_path / "news.json").exists()
    result = runner.invoke(app, ["news", "list", "--store", store])
    assert result.exit_code == 0 and "Transient" not in result.output


def test_cli_fetch_prints_posts_without_notify(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(news_cli.importlib, "import_module", missing)
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(yaml.safe_dump(_plan_data(server)), encoding="utf-8")
    app = typer.Typer()
    app.add_typer(news_cli.app, name="news")
    store = str(tmp_path / "news.json")
    result = CliRunner().invoke(app, ["news", "fetch", "-p", str(plan_file), "--store", store])
    assert result.exit_code == 0, result.output
    assert result.output.count("→ security-news (for bob)") == 3
    assert result.output.count("→ security-news (for carol)") == 1
    assert len(NewsStore(Path(store)).items()) == 8
    listed = CliRunner().invoke(
        app, ["news", "list", "--store", store, "--affects", "-c", "solidity"]
    )
    assert listed.exit_code == 0 and "Transient" in listed.output and "0.8.27" not in listed.output
