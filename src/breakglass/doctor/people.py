"""People in critical roles can be paged; channels parse and, on request, receive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from breakglass.doctor.base import DoctorCheck, Finding
from breakglass.doctor.context import DoctorContext, shown_url
from breakglass.errors import ConfigError
from breakglass.plan.issues import Path
from breakglass.plan.models.base import Secret

__all__ = ["ChannelsCheck", "PagingCheck", "url_problem"]

TEST_TITLE = "breakglass doctor: test message"


def url_problem(url: Secret, environ: dict[str, str]) -> str | None:
    """Why ``url`` cannot carry a message (unset variable, not an Apprise URL), or None."""
    try:
        resolved = url.resolve(environ)
    except ConfigError as exc:
        return str(exc)
    import apprise  # noqa: PLC0415 - only commands that notify pay for it

    if not apprise.Apprise().add(resolved):
        return f"{shown_url(url, resolved)} is not a URL Apprise can send to"
    return None


class PagingCheck(DoctorCheck):
    id = "paging.reachable"
    title = "Every member of a critical role can be paged"
    needs = (
        "Roles that lead or handle a mitigation (or say `critical: true`); each member's "
        "`page` URL with its variables."
    )
    fix = (
        "Give each member a `page:` Apprise URL (PagerDuty, Telegram, a phone gateway…) with "
        "its tokens in ${VARS}, and set the variables; give an empty critical role members."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        for role_name, role in ctx.plan.roles.items():
            if not role.is_critical(role_name):
                continue
            if not role.members:
                message = "a critical role without members: nobody is paged"
                yield Finding.fail(role_name, message, ("roles", role_name))
            for member in role.members:
                subject = f"{role_name}: {member}"
                person = ctx.plan.people.get(member)
                path: Path = ("people", member)
                if person is None or person.page is None:
                    message = f"{member} has no `page` URL: a page skips them"
                    yield Finding.fail(subject, message, path)
                    continue
                problem = url_problem(person.page, ctx.environ)
                if problem is not None:
                    yield Finding.fail(subject, problem, (*path, "page"))
                else:
                    message = f"paged at {_shown(person.page, ctx)}"
                    yield Finding.ok(subject, message, (*path, "page"))


class ChannelsCheck(DoctorCheck):
    id = "channels.delivery"
    title = "Every channel URL parses (and, with --deliver-test, receives a test message)"
    needs = (
        "The channels' URLs and signing keys with their variables; with --deliver-test, the "
        "receivers, reached directly (no delivery log, no retries)."
    )
    fix = (
        "Write the channel as an Apprise URL (`tgram://`, `slack://`, `json://`…) with its "
        "tokens in ${VARS}; when a test message fails, the receiver's answer says why."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        from breakglass.notify.errors import DeliveryError  # noqa: PLC0415
        from breakglass.notify.transport import Target, send  # noqa: PLC0415

        for name, channel in ctx.plan.channels.items():
            path: Path = ("channels", name)
            problem = url_problem(channel.url, ctx.environ)
            if problem is None and channel.signing_key is not None:
                try:
                    channel.signing_key.resolve(ctx.environ)
                except ConfigError as exc:
                    problem = f"signing key: {exc}"
            if problem is not None:
                yield Finding.fail(name, problem, path)
                continue
            shown = _shown(channel.url, ctx)
            if not ctx.deliver_test:
                yield Finding.ok(name, f"{shown} parses", path)
                continue
            body = (
                f"A test from `breakglass doctor` for {ctx.plan.protocol}: this channel "
                "receives breakglass messages. Nothing is wrong."
            )
            payload = {"event": "doctor_test", "protocol": ctx.plan.protocol, "channel": name}
            try:
                await send(
                    Target(name, channel.url, channel.signing_key),
                    TEST_TITLE,
                    body,
                    payload,
                    environ=ctx.environ,
                    now=datetime.now(UTC),
                )
            except DeliveryError as exc:
                yield Finding.fail(name, f"the test message to {shown} failed: {exc}", path)
            else:
                yield Finding.ok(name, f"{shown} received a test message", path)


def _shown(url: Secret, ctx: DoctorContext) -> str:
    return shown_url(url, url.resolve(ctx.environ))
