"""Write docs/api.md from the REST API's OpenAPI document.

Run after changing a route or a schema: ``.venv/bin/python scripts/gen_api_docs.py``.
``--check`` only compares and exits 1 when docs/api.md is stale (for CI).
"""

from __future__ import annotations

import sys
from pathlib import Path

from breakglass.api.docs import render_api_markdown

TARGET = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def main(argv: list[str]) -> int:
    text = render_api_markdown()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            sys.stderr.write(f"{TARGET} is stale: run scripts/gen_api_docs.py\n")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {TARGET}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
