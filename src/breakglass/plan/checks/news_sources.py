from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import ComponentKind

_EXPECTED = {
    ComponentKind.COMPILER: "the compiler",
    ComponentKind.LIBRARY: "contract libraries",
}
_EXTERNAL = {ComponentKind.DEPENDENCY, ComponentKind.OFFCHAIN_SERVICE}


class NewsSourcesCheck(PlanCheck):
    id = "news.sources"
    title = "Every component has vulnerability-news sources and an owner"
    severity = CheckSeverity.WARNING
    explanation = (
        "New compiler bugs, library advisories and incidents at services the protocol relies "
        "on are how the next exploit is announced. Each component needs sources to follow "
        "and a person who follows them, and the news should land in one channel."
    )
    fix = (
        "Add `news_sources: {channel: <channel>, components: {solc: {kind: compiler, owner: "
        "<person>, sources: [{name: ..., url: ...}]}}}` covering the compiler, libraries, "
        "dependencies and off-chain services."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        news = ctx.plan.news_sources
        if news is None or not news.components:
            yield Finding("the plan names no components to follow vulnerability news for")
            return
        kinds = {component.kind for component in news.components.values()}
        for kind, what in _EXPECTED.items():
            if kind not in kinds:
                yield Finding(f"no news sources for {what} (kind: {kind.value})", ("news_sources",))
        if not kinds & _EXTERNAL:
            yield Finding(
                "no news sources for on-chain dependencies or off-chain services",
                ("news_sources",),
            )
        for name, component in news.components.items():
            path = ("news_sources", "components", name)
            if not component.sources:
                yield Finding(f"component '{name}' has no news sources", path)
            if component.owner is None:
                yield Finding(f"nobody follows the news for component '{name}'", path)
        if news.channel is None:
            yield Finding(
                "no channel receives the news feed (news_sources.channel)",
                ("news_sources",),
                severity=CheckSeverity.WARNING,
            )
