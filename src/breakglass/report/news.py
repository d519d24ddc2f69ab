"""Vulnerability news: fetch each component's sources, keep new entries, flag the ones that
affect the versions the plan declares and post those to the news channel, for the owner.

See docs/news.md for the matching rules.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from breakglass.errors import StoreError
from breakglass.outputs import output_dir, writing
from breakglass.plan.models import Plan
from breakglass.plan.models.policy import NewsComponent, NewsSource, NewsSourceKind
from breakglass.report.news_parse import (
    NewsEntry,
    NewsParseError,
    parse_feed,
    parse_ghsa,
    parse_osv,
)
from breakglass.report.news_ranges import ecosystem_key, osv_affects, parse_version, range_affects

__all__ = [
    "FetchReport",
    "NewsItem",
    "NewsPost",
    "NewsStore",
    "SourceError",
    "fetch_news",
    "match_entry",
]

_READERS = {
    NewsSourceKind.RSS: parse_feed,
    NewsSourceKind.ATOM: parse_feed,
    NewsSourceKind.OSV: parse_osv,
    NewsSourceKind.OSV_DIR: parse_osv,
    NewsSourceKind.GHSA: parse_ghsa,
    NewsSourceKind.GITHUB_ADVISORIES: parse_ghsa,
}
_REPO_ADVISORIES = re.compile(r"^https://github\.com/([^/]+)/([^/]+)/security/advisories/?$")


@dataclass(frozen=True)
class NewsPost:
    """One message for the news channel, addressed to the component's owner."""

    channel: str
    owner: str | None
    title: str
    body: str
    url: str | None


@dataclass(frozen=True)
class SourceError:
    """A source that could not be read this time; the others are still fetched."""

    component: str
    source: str
    url: str
    message: str


@dataclass
class NewsItem:
    """A stored entry: what a source said and whether it affects the component."""

    key: str
    component: str
    source: str
    title: str
    url: str | None
    published: str | None
    summary: str
    aliases: list[str]
    affects: bool
    reason: str
    first_seen: str
    owner: str | None = None


@dataclass
class FetchReport:
    """What one fetch found: new items, posts made and per-source errors."""

    new: list[NewsItem] = field(default_factory=list)
    posts: list[NewsPost] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    seen: int = 0


class NewsStore:
    """Entries already seen, in one JSON file; dedup is per component, by id and aliases."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._items: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                self._items = dict(json.loads(path.read_text(encoding="utf-8"))["items"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"news store {path} is unreadable: {exc}") from exc
        self._index = {
            self._alias(item["component"], name): key
            for key, item in self._items.items()
            for name in [item["key"], *item["aliases"]]
        }

    @staticmethod
    def _alias(component: str, name: str) -> str:
        return f"{component}\x00{name.lower()}"

    def known(self, component: str, names: Iterable[str]) -> bool:
        """Whether an entry with any of these ids or aliases is stored for ``component``."""
        return any(self._alias(component, name) in self._index for name in names)

    def add(self, item: NewsItem) -> None:
        """Keep ``item`` in memory; :meth:`save` writes the file."""
        stored = f"{item.component}/{item.key}"
        self._items[stored] = asdict(item)
        for name in [item.key, *item.aliases]:
            self._index[self._alias(item.component, name)] = stored

    def save(self) -> None:
        """Write the file atomically."""
        output_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        with writing(self.path):
            tmp.write_text(json.dumps({"version": 1, "items": self._items}, indent=1), "utf-8")
            os.replace(tmp, self.path)

    def items(self) -> list[NewsItem]:
        """Every stored item, newest first."""
        items = [NewsItem(**data) for data in self._items.values()]
        return sorted(items, key=lambda i: (i.first_seen, i.published or ""), reverse=True)


def _mentions(text: str, word: str) -> bool:
    """``word`` as a whole token (a ``v`` prefix allowed): 0.8.26 is not in 0.8.261."""
    pattern = rf"(?<![\w.])v?{re.escape(word)}(?!\w|\.\d)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def match_entry(name: str, component: NewsComponent, entry: NewsEntry) -> tuple[bool, str]:
    """Whether ``entry`` affects the component's declared version, and why (or why not).

    Advisories match on ``package`` (ecosystem and name) and the version ranges; feed items
    match when their title or summary names the component (or its package) and its version.
    """
    if component.version is None:
        return False, "no version declared"
    version = parse_version(component.version)
    if entry.advisory:
        if component.package is None or version is None:
            return False, "no package declared" if version else "unreadable version"
        ecosystem, _, package = component.package.rpartition(":")
        reason = "declared version not affected"
        for affected in entry.affected:
            if affected.name != package or (
                ecosystem and ecosystem_key(affected.ecosystem) != ecosystem_key(ecosystem)
            ):
                continue
            try:
                hit = (
                    osv_affects(affected.osv, version, component.version)
                    if affected.osv is not None
                    else range_affects(affected.vulnerable_range or "", version)
                )
            except ValueError as exc:
                reason = f"unreadable range: {exc}"
                continue
            if hit:
                return True, f"{package} {component.version} is in the affected range"
        return False, reason
    text = f"{entry.title} {entry.summary}"
    names = [name, component.package.rpartition(":")[2]] if component.package else [name]
    if any(_mentions(text, n) for n in names) and _mentions(text, component.version):
        return True, f"mentions {name} {component.version}"
    return False, "does not mention the declared version"


def _local_path(url: str, base: Path | None) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme in {"http", "https"}:
        return None
    path = Path(parsed.path if parsed.scheme == "file" else url)
    return path if path.is_absolute() or base is None else base / path


def _payloads(
    source: NewsSource, client: httpx.Client, base: Path | None
) -> list[tuple[str, bytes]]:
    """The raw documents of one source, labelled by where they came from."""
    local = _local_path(source.url, base)
    if source.kind is NewsSourceKind.OSV_DIR:
        if local is None or not local.is_dir():
            raise NewsParseError(f"osv-dir needs a local directory, not {source.url}")
        return [(str(p), p.read_bytes()) for p in sorted(local.glob("*.json"))]
    if local is not None:
        return [(str(local), local.read_bytes())]
    url = source.url
    if source.kind is NewsSourceKind.GITHUB_ADVISORIES and (m := _REPO_ADVISORIES.match(url)):
        url = f"https://api.github.com/repos/{m[1]}/{m[2]}/security-advisories"
    response = client.get(url)
    response.raise_for_status()
    return [(url, response.content)]


def _read(
    name: str, source: NewsSource, client: httpx.Client, base: Path | None, report: FetchReport
) -> list[NewsEntry]:
    reader = _READERS.get(source.kind)
    if reader is None:  # kind: page is followed by hand
        return []
    try:
        payloads = _payloads(source, client, base)
    except (httpx.HTTPError, OSError, NewsParseError) as exc:
        report.errors.append(SourceError(name, source.name, source.url, _describe(exc)))
        return []
    entries: list[NewsEntry] = []
    for where, content in payloads:
        try:
            entries += reader(content)
        except NewsParseError as exc:
            report.errors.append(SourceError(name, source.name, where, str(exc)))
    return entries


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    if isinstance(exc, httpx.HTTPError):
        return f"unreachable: {type(exc).__name__}: {exc}"
    return str(exc)


def _post_for(plan: Plan, channel: str, item: NewsItem, version: str | None) -> NewsPost:
    person = plan.people.get(item.owner) if item.owner else None
    who = person.name if person else (item.owner or "the team")
    body = (
        f"{who}: {item.component} {version or ''} may be affected ({item.reason}).\n"
        f"{item.title}\n{item.summary[:500]}\nSource: {item.source}"
    ).replace("  ", " ")
    return NewsPost(channel, item.owner, f"[{item.component}] {item.title}", body, item.url)


def fetch_news(
    plan: Plan,
    store: NewsStore,
    *,
    post: Callable[[NewsPost], None] | None = None,
    dry_run: bool = False,
    client: httpx.Client | None = None,
    base_dir: Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FetchReport:
    """Fetch every source of every component and return what is new.

    New entries are stored (unless ``dry_run``); new entries that affect a component are
    posted through ``post`` to ``news_sources.channel``, addressed to the component's owner.
    A source that fails is reported in :attr:`FetchReport.errors`; the others still run.
    ``base_dir`` resolves relative local paths (the plan file's directory).
    """
    report = FetchReport()
    news = plan.news_sources
    if news is None:
        return report
    own_client = client is None
    http = client or httpx.Client(timeout=15.0, follow_redirects=True)
    now = clock().isoformat()
    try:
        for name, component in news.components.items():
            for source in component.sources:
                for entry in _read(name, source, http, base_dir, report):
                    report.seen += 1
                    if store.known(name, [entry.id, *entry.aliases]):
                        continue
                    affects, reason = match_entry(name, component, entry)
                    item = NewsItem(
                        key=entry.id,
                        component=name,
                        source=source.name,
                        title=entry.title,
                        url=entry.url,
                        published=entry.published.isoformat() if entry.published else None,
                        summary=entry.summary,
                        aliases=list(entry.aliases),
                        affects=affects,
                        reason=reason,
                        first_seen=now,
                        owner=component.owner,
                    )
                    store.add(item)
                    report.new.append(item)
                    if affects and news.channel is not None:
                        report.posts.append(_post_for(plan, news.channel, item, component.version))
    finally:
        if own_client:
            http.close()
    if dry_run:
        return report
    store.save()
    for message in report.posts:
        if post is None:
            break
        try:
            post(message)
        except Exception as exc:  # one failed post must not lose the others
            report.errors.append(SourceError("-", "post", message.channel, f"{exc}"))
    return report
