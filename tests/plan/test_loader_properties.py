"""Random documents never crash the loader: a plan loads, or every problem is reported."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakglass.plan import PlanLoadError, load_plan, load_plan_text
from breakglass.plan.source import Document, parse_document

EXAMPLES = Path(__file__).parents[2] / "examples" / "plans"


def _read_full() -> object:
    doc = parse_document((EXAMPLES / "full.yaml").read_text(), "full.yaml")
    assert isinstance(doc, Document)
    return doc.data


FULL = _read_full()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["${X}", "${lower}", "0x" + "1" * 40, "30d", "auto", "pause", "2026-01-01"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(sorted(FULL)), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=30,
)


def _load(text: str) -> None:
    try:
        load_plan_text(text, file=EXAMPLES / "random.yaml")
    except PlanLoadError as exc:
        assert exc.issues, "a load error must carry at least one issue"
        for issue in exc.issues:
            assert issue.message
            assert str(issue).startswith(str(EXAMPLES / "random.yaml"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents(document: object) -> None:
    _load(yaml.safe_dump(document))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _load(text)


def _mutations() -> st.SearchStrategy[tuple[list[str | int], object]]:
    paths: list[list[str | int]] = []

    def walk(node: object, path: list[str | int]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, index])

    walk(FULL, [])
    return st.tuples(st.sampled_from(paths[1:]), scalars | st.lists(scalars, max_size=2))


@settings(max_examples=100, deadline=None)
@given(_mutations())
def test_one_wrong_value_in_the_full_plan(mutation: tuple[list[str | int], object]) -> None:
    """Replacing one value of a valid plan either still loads or is located precisely."""
    path, value = mutation
    document = _read_full()
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    try:
        load_plan_text(yaml.safe_dump(document, sort_keys=False), file=EXAMPLES / "full.yaml")
    except PlanLoadError as exc:
        assert all(issue.line is not None for issue in exc.issues), exc.issues


def test_full_plan_round_trips_through_random_dump() -> None:
    text = yaml.safe_dump(FULL, sort_keys=True)
    assert (
        load_plan_text(text, file=EXAMPLES / "full.yaml").plan
        == load_plan(EXAMPLES / "full.yaml").plan
    )
