"""The OpenAPI document, fuzzed with schemathesis as an admin: no generated input, valid or
not, makes the API fail with a 5xx, and every response matches the documented status codes,
content types, headers and schemas.

Two checks are left out on purpose. ``positive_data_acceptance``: a schema-valid request can
still be refused with a 4xx for what a schema cannot say (a contract the plan does not name,
an incident duplicating itself, a note that is only NUL characters). And
``negative_data_rejection``: unknown query parameters are ignored, as HTTP APIs do, and the
admin token is sent with every case, so "missing Authorization" cases are not missing it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from .conftest import build_api

# schemathesis collects its tests from a schema that exists at import time, so the app
# (plan, SQLite database, tokens) is built here, in a directory removed at exit.
_DIR = tempfile.TemporaryDirectory(prefix="breakglass-fuzz-")
API = build_api(Path(_DIR.name))
schema = schemathesis.openapi.from_asgi("/openapi.json", API.app)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers=API.headers("admin"),
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )
