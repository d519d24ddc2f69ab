"""``docs/api.md``: the REST API reference, generated from the app's own OpenAPI document.

The document comes from the same :func:`~breakglass.api.app.create_app` that ``breakglass
serve`` runs, over a throwaway plan and an in-memory database, so the reference cannot drift
from the code: ``scripts/gen_api_docs.py`` writes it and a test regenerates and compares it.
Each endpoint also names the access it needs, read from the permission its route declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

__all__ = ["api_openapi", "render_api_markdown"]

_PLAN = """
protocol: Example
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
"""
_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/"


def api_openapi() -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The OpenAPI document of the API and the access each ``(METHOD, path)`` needs."""
    import tempfile  # noqa: PLC0415

    from breakglass import store  # noqa: PLC0415
    from breakglass.api.app import create_app  # noqa: PLC0415
    from breakglass.plan import load_plan  # noqa: PLC0415
    from breakglass.webcore.security import permission_of  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="breakglass-api-docs-") as tmp:
        plan_file = Path(tmp) / "breakglass.yaml"
        plan_file.write_text(_PLAN, encoding="utf-8")
        engine = store.make_engine("sqlite://")
        try:
            app = create_app(load_plan(plan_file), store.session_factory(engine))
            document = app.openapi()
        finally:
            engine.dispose()
    access: dict[tuple[str, str], str] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and (permission := permission_of(route)) is not None:
            for method in route.methods or ():
                access[(method.upper(), route.path)] = permission.name
    return document, access


def _type(schema: Mapping[str, Any]) -> str:
    """A JSON schema as a short type expression, e.g. ``list[IncidentOut] | null``."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(_REF)
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " \\| ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind == "array":
        return f"list[{_type(schema.get('items', {}))}]"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"map[{_type(extra) if isinstance(extra, Mapping) else 'any'}]"
    if isinstance(kind, str):
        return f"{kind} ({schema['format']})" if "format" in schema else kind
    return "any"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _body_type(content: Mapping[str, Any]) -> str:
    parts = []
    for media, spec in content.items():
        schema = spec.get("schema")
        parts.append(f"`{media}` {_type(schema)}" if schema else f"`{media}`")
    return ", ".join(parts)


def _endpoint(method: str, path: str, op: Mapping[str, Any], access: str) -> list[str]:
    lines = [f"### {method} `{path}`", "", f"Access: **{access}**.", ""]
    if description := op.get("description"):
        lines += [" ".join(str(description).split()), ""]
    if params := op.get("parameters"):
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for param in params:
            schema = param.get("schema", {})
            text = param.get("description") or schema.get("description", "")
            lines.append(
                f"| `{param['name']}` | {param['in']} | {_type(schema)} | "
                f"{'yes' if param.get('required') else 'no'} | {_cell(text)} |"
            )
        lines.append("")
    if body := op.get("requestBody"):
        lines += [f"Request body: {_body_type(body.get('content', {}))}.", ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in sorted(op.get("responses", {}).items()):
        content = _body_type(response.get("content", {}))
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {content} |")
    return [*lines, ""]


def _schemas(schemas: Mapping[str, Mapping[str, Any]]) -> Iterable[str]:
    for name, schema in sorted(schemas.items()):
        yield f"### {name}"
        yield ""
        if description := schema.get("description"):
            yield " ".join(str(description).split())
            yield ""
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        if not properties:
            yield f"Type: {_type(schema)}."
            yield ""
            continue
        yield "| field | type | required | description |"
        yield "|---|---|---|---|"
        for field, spec in properties.items():
            text = _cell(spec.get("description", ""))
            flag = "yes" if field in required else "no"
            yield f"| `{field}` | {_type(spec)} | {flag} | {text} |"
        yield ""


def render_api_markdown() -> str:
    """The REST API reference as Markdown (``docs/api.md``)."""
    document, access = api_openapi()
    info = document["info"]
    lines = [
        "# REST API",
        "",
        "<!-- Generated by `scripts/gen_api_docs.py` from the app's OpenAPI document; "
        "do not edit by hand. -->",
        "",
        f"breakglass {info['version']}, OpenAPI {document['openapi']}. `breakglass serve` "
        "serves this API under `/api`, the public status page and the dashboard; "
        "`GET /openapi.json` returns the machine-readable document.",
        "",
        " ".join(str(info.get("description", "")).split()),
        "",
        "Access levels come from the plan's people (`viewer` < `responder` < `admin`); "
        "`public` needs no token. A bad request, a missing or insufficient token and an "
        "unknown id answer with an [ErrorOut](#errorout) body.",
        "",
        "## Endpoints",
        "",
        "| method | path | access | summary |",
        "|---|---|---|---|",
    ]
    operations = []
    for path, item in document["paths"].items():
        for method in _METHODS:
            if (op := item.get(method)) is not None:
                level = access.get((method.upper(), path), "undeclared")
                operations.append((method.upper(), path, op, level))
                summary = _cell(op.get("summary", ""))
                lines.append(f"| {method.upper()} | `{path}` | {level} | {summary} |")
    lines.append("")
    tags: dict[str, list[tuple[str, str, Mapping[str, Any], str]]] = {}
    for entry in operations:
        tags.setdefault(str((entry[2].get("tags") or ["other"])[0]), []).append(entry)
    for tag, entries in tags.items():
        lines += [f"## {tag[:1].upper()}{tag[1:]}", ""]
        for method, path, op, level in entries:
            lines += _endpoint(method, path, op, level)
    lines += ["## Schemas", "", *_schemas(document.get("components", {}).get("schemas", {}))]
    return "\n".join(lines).rstrip("\n") + "\n"
