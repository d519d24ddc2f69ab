"""The plan check ``channels.schemes``: every notification URL has a scheme breakglass can
send to.

It lives with notify because what can be sent to is notify's to say: Apprise's plugins,
plus the schemes breakglass posts itself (signed webhooks, PagerDuty and Opsgenie events).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache

from breakglass.notify.external_paging import SCHEMES as PAGING_SCHEMES
from breakglass.notify.transport import SIGNED_SCHEMES
from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.issues import Path, format_path
from breakglass.plan.models import Secret

__all__ = ["ChannelSchemesCheck", "known_schemes"]

_WEB = frozenset({"http", "https"})


@cache
def known_schemes() -> frozenset[str]:
    """Every URL scheme a message can be sent to: asked of Apprise, not listed by hand, so
    a plugin Apprise adds or drops is known at once."""
    import apprise  # noqa: PLC0415 - only this check and sending pay for the import

    schemes: set[str] = set(PAGING_SCHEMES | SIGNED_SCHEMES)
    for plugin in apprise.Apprise().details()["schemas"]:
        schemes.update(plugin.get("protocols") or ())
        schemes.update(plugin.get("secure_protocols") or ())
    return frozenset(s.lower() for s in schemes)


def _native(scheme: str, template: str) -> bool:
    """True for a service's own https URL that Apprise takes as it is (a Slack or Discord
    webhook); one with ${VAR}s in it is left to `breakglass doctor`, where they are set."""
    if scheme not in _WEB:
        return False
    if "${" in template:
        return True
    import apprise  # noqa: PLC0415

    return bool(apprise.Apprise().add(template))


def _urls(ctx: CheckContext) -> Iterator[tuple[Path, Secret, frozenset[str]]]:
    """Each notification URL of the plan, where it is, and the schemes allowed besides
    Apprise's."""
    plan = ctx.plan
    for name, channel in plan.channels.items():
        yield ("channels", name), channel.url, frozenset()
    for name, person in plan.people.items():
        if person.page is not None:
            yield ("people", name, "page"), person.page, frozenset()
    for name, party in plan.external_parties.items():
        if party.page is not None:
            yield ("external_parties", name, "page"), party.page, frozenset()
    for name, chain in plan.chains.items():
        if chain.heartbeat is not None:  # a plain https URL is fetched, not sent to
            yield ("chains", name, "heartbeat"), chain.heartbeat.url, _WEB


class ChannelSchemesCheck(PlanCheck):
    id = "channels.schemes"
    title = "Every channel and page URL has a scheme breakglass can send to"
    severity = CheckSeverity.ERROR
    explanation = (
        "A channel, page or heartbeat URL whose scheme no Apprise plugin knows (`telegram://` "
        "for `tgram://`, `slack-webhook://`) loads without complaint and fails on the first "
        "message, during the incident. The schemes are asked of the installed Apprise, plus "
        "the ones breakglass posts itself (json/jsons signed webhooks, pagerduty-events, "
        "opsgenie-alerts). A URL whose scheme comes from a ${VAR} is checked by `breakglass "
        "doctor`, where the variable is set."
    )
    fix = (
        "Write the scheme of the service's Apprise URL (https://github.com/caronc/apprise/wiki"
        "), e.g. `tgram://${BOT_TOKEN}/${CHAT_ID}`, `slack://…`, `pagerduty://…`, `json://…`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        known = known_schemes()
        for path, url, extra in _urls(ctx):
            template = url.template.strip()
            if template.startswith("${"):
                continue
            scheme = template.split("://", 1)[0].lower() if "://" in template else ""
            if scheme in known or scheme in extra or _native(scheme, template):
                continue
            if not scheme:
                yield Finding(
                    f"{format_path(path)} is not a URL: it has no scheme:// (e.g. tgram://)",
                    path,
                )
                continue
            message = f"{format_path(path)}: Apprise has no '{scheme}://' scheme"
            close = difflib.get_close_matches(scheme, sorted(known | extra), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean '{close[0]}://'?"
            yield Finding(message, path)
