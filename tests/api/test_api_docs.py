"""docs/api.md is the API's reference, generated from its OpenAPI document: it must be
current, and it must name every endpoint with the access it needs."""

from __future__ import annotations

import re
from pathlib import Path

from breakglass.api.docs import api_openapi, render_api_markdown

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"


def test_api_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render_api_markdown(), (
        "docs/api.md is stale: run `.venv/bin/python scripts/gen_api_docs.py`"
    )


def test_every_endpoint_is_listed_with_its_access() -> None:
    document, access = api_openapi()
    text = DOC.read_text(encoding="utf-8")
    listed = set(
        re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| (\w+) \|", text, re.M)
    )
    expected = {
        (method.upper(), path, access[(method.upper(), path)])
        for path, item in document["paths"].items()
        for method in item
    }
    assert listed == expected
    assert {level for _, _, level in listed} <= {"public", "viewer", "responder", "admin"}
    for name in document["components"]["schemas"]:
        assert f"### {name}\n" in text
