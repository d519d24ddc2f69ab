"""Reading news payloads: RSS and Atom feeds (feedparser), OSV and GitHub Security Advisory JSON.

Every reader turns raw bytes into :class:`NewsEntry` objects or raises :class:`NewsParseError`
with a message that says what is wrong with the payload.
"""

from __future__ import annotations

import calendar
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]

from breakglass import safejson

__all__ = [
    "AffectedPackage",
    "NewsEntry",
    "NewsParseError",
    "parse_feed",
    "parse_ghsa",
    "parse_osv",
]

_TAG = re.compile(r"<[^>]+>")


class NewsParseError(ValueError):
    """A payload that is not the feed or advisory JSON its source kind promises."""


@dataclass(frozen=True)
class AffectedPackage:
    """One package an advisory names, with the versions it affects.

    ``osv`` is the OSV ``affected[]`` entry; ``vulnerable_range`` is GHSA's range text.
    """

    ecosystem: str
    name: str
    osv: Mapping[str, Any] | None = None
    vulnerable_range: str | None = None


@dataclass(frozen=True)
class NewsEntry:
    """A feed item or an advisory, as read from one source."""

    id: str
    title: str
    url: str | None = None
    published: datetime | None = None
    summary: str = ""
    aliases: tuple[str, ...] = ()
    affected: tuple[AffectedPackage, ...] = field(default=())
    advisory: bool = False


def _text(value: object) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", str(value or ""))).split())


def _date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_feed(content: bytes) -> list[NewsEntry]:
    """The items of an RSS 2.0 or Atom feed; malformed XML or a non-feed raises."""
    parsed = feedparser.parse(content)
    problem = parsed.get("bozo_exception")
    if not parsed.get("version"):
        raise NewsParseError("not an RSS or Atom feed" + (f": {problem}" if problem else ""))
    if parsed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride):
        raise NewsParseError(f"malformed feed: {problem}")
    entries: list[NewsEntry] = []
    for item in parsed.entries:
        link = item.get("link") or None
        title = _text(item.get("title")) or "(untitled)"
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        published = (
            datetime.fromtimestamp(calendar.timegm(stamp), tz=UTC) if stamp is not None else None
        )
        entries.append(
            NewsEntry(
                id=str(item.get("id") or link or title),
                title=title,
                url=link,
                published=published,
                summary=_text(item.get("summary")),
            )
        )
    return entries


def _json(content: bytes) -> Any:
    # A hostile feed must not crash news fetch: safejson bounds the nesting.
    try:
        return safejson.loads(content, what="the feed")
    except safejson.UnsafeJson as exc:
        raise NewsParseError(f"malformed JSON: {exc}") from None


def _records(payload: Any, key: str, wrapper: str) -> list[Mapping[str, Any]]:
    if isinstance(payload, Mapping) and isinstance(payload.get(wrapper), list):
        payload = payload[wrapper]
    records = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(r, Mapping) and isinstance(r.get(key), str) for r in records):
        raise NewsParseError(f"not advisory JSON: every record needs a string {key!r}")
    return records


def parse_osv(content: bytes) -> list[NewsEntry]:
    """OSV records: one object, a list, or an OSV API answer ``{"vulns": [...]}``."""
    entries: list[NewsEntry] = []
    for record in _records(_json(content), "id", "vulns"):
        advisory_id = record["id"]
        references = record.get("references") or []
        links = [r.get("url") for r in references if isinstance(r, Mapping) and r.get("url")]
        preferred = [
            r.get("url")
            for r in references
            if isinstance(r, Mapping) and r.get("type") == "ADVISORY" and r.get("url")
        ]
        affected = tuple(
            AffectedPackage(
                ecosystem=str(item.get("package", {}).get("ecosystem", "")),
                name=str(item.get("package", {}).get("name", "")),
                osv=item,
            )
            for item in record.get("affected") or []
            if isinstance(item, Mapping)
        )
        entries.append(
            NewsEntry(
                id=advisory_id,
                title=_text(record.get("summary")) or advisory_id,
                url=(preferred or links or [f"https://osv.dev/vulnerability/{advisory_id}"])[0],
                published=_date(record.get("published")),
                summary=_text(record.get("details")),
                aliases=tuple(str(a) for a in record.get("aliases") or []),
                affected=affected,
                advisory=True,
            )
        )
    return entries


def parse_ghsa(content: bytes) -> list[NewsEntry]:
    """GitHub Security Advisories (global or repository API): one object or a list."""
    entries: list[NewsEntry] = []
    for record in _records(_json(content), "ghsa_id", "advisories"):
        aliases = {str(i.get("value")) for i in record.get("identifiers") or [] if i.get("value")}
        if record.get("cve_id"):
            aliases.add(str(record["cve_id"]))
        aliases.discard(record["ghsa_id"])
        affected = tuple(
            AffectedPackage(
                ecosystem=str((v.get("package") or {}).get("ecosystem", "")),
                name=str((v.get("package") or {}).get("name", "")),
                vulnerable_range=v.get("vulnerable_version_range") or None,
            )
            for v in record.get("vulnerabilities") or []
            if isinstance(v, Mapping)
        )
        entries.append(
            NewsEntry(
                id=record["ghsa_id"],
                title=_text(record.get("summary")) or record["ghsa_id"],
                url=record.get("html_url") or record.get("url"),
                published=_date(record.get("published_at")),
                summary=_text(record.get("description")),
                aliases=tuple(sorted(aliases)),
                affected=affected,
                advisory=True,
            )
        )
    return entries
