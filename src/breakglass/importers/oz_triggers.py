"""OpenZeppelin Monitor triggers as breakglass channels (Apprise URLs, signed webhooks)."""

from __future__ import annotations

from typing import Any

from breakglass.importers.common import secret_ref
from breakglass.importers.report import ImportReport, env_name

__all__ = ["trigger_channel"]

_FIELDS = {
    "slack": {"slack_url", "message"},
    "discord": {"discord_url", "message"},
    "telegram": {"token", "chat_id", "disable_web_preview", "message"},
    "email": {"host", "port", "username", "password", "message", "sender", "recipients"},
    "webhook": {"url", "method", "secret", "headers", "message"},
    "script": {"language", "script_path", "arguments", "timeout_ms"},
}


def trigger_channel(
    trigger_id: str, trigger: Any, report: ImportReport, *, file: str
) -> dict[str, Any] | None:
    """The channel for one trigger, or None when it has none (a script trigger).

    Problems (unknown type or fields, malformed secrets) go to ``report``.
    """
    if not isinstance(trigger, dict) or not isinstance(trigger.get("config"), dict):
        report.problem(file, trigger_id, "expected {name, trigger_type, config}")
        return None
    for key in sorted(set(trigger) - {"name", "trigger_type", "config"}):
        report.problem(file, f"{trigger_id}.{key}", "unknown field")
    kind, config = trigger.get("trigger_type"), trigger["config"]
    if kind not in _FIELDS:
        report.problem(file, f"{trigger_id}.trigger_type", f"unknown trigger type {kind!r}")
        return None
    for key in sorted(set(config) - _FIELDS[kind]):
        report.problem(file, f"{trigger_id}.config.{key}", "unknown field")
    at = f"{trigger_id}.config"

    def secret(key: str, suffix: str) -> str:
        variable = env_name("OZ", trigger_id, suffix)
        return secret_ref(config.get(key), report, file=file, path=f"{at}.{key}", variable=variable)

    description = str(trigger.get("name") or trigger_id)
    if kind == "script":
        report.notes.append(
            f"{file}: {trigger_id}: script notifications have no breakglass channel; "
            "point a webhook channel at a receiver that runs the script"
        )
        return None
    if isinstance(config.get("message"), dict) and config["message"].get("body"):
        report.notes.append(
            f"{file}: {trigger_id}: the message template is not carried; breakglass sends "
            "its own alert text (title, rule, transaction, addresses)"
        )
    channel: dict[str, Any] = {"description": description}
    if kind in ("slack", "discord"):
        channel["url"] = secret(f"{kind}_url", "URL")
        _how(report, env_name("OZ", trigger_id, "URL"), f"the {kind} webhook URL, as it is")
    elif kind == "telegram":
        chat = str(config.get("chat_id", ""))
        channel["url"] = f"tgram://{secret('token', 'TOKEN')}/{chat}"
    elif kind == "email":
        recipients = ",".join(str(r) for r in config.get("recipients") or [])
        port = config.get("port") or 465
        user, password = secret("username", "USERNAME"), secret("password", "PASSWORD")
        channel["url"] = (
            f"mailtos://{config.get('host')}:{port}?user={user}&pass={password}"
            f"&from={config.get('sender')}&to={recipients}"
        )
    else:
        channel["url"] = secret("url", "URL")
        _how(
            report,
            env_name("OZ", trigger_id, "URL"),
            "the webhook URL with jsons:// in place of https:// (json:// for http://)",
        )
        if config.get("secret") is not None:
            channel["signing_key"] = secret("secret", "SECRET")
            channel["signature"] = "oz-monitor"
        if str(config.get("method", "POST")).upper() != "POST":
            channel["url"] += f"?method={str(config['method']).upper()}"
        if config.get("headers"):
            names = ", ".join(h for h in config["headers"] if h.lower() != "content-type")
            if names:
                report.notes.append(
                    f"{file}: {trigger_id}: headers {names} not carried; add each to the URL "
                    "as +Name=value"
                )
    return channel


def _how(report: ImportReport, variable: str, how: str) -> None:
    """Say what a Plain-moved URL variable must hold (an Environment one keeps its name)."""
    for index, entry in enumerate(report.secrets):
        if entry.variable == variable:
            report.secrets[index] = type(entry)(entry.variable, entry.where, how)
