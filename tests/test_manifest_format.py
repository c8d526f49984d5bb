"""The configuration file format without a database: reading YAML with positions, checking
documents, writing them back, and deciding what an apply would change."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.manifest.apply import SourceFile, parse
from tocsin.manifest.documents import validate_document
from tocsin.manifest.kinds import HANDLERS
from tocsin.manifest.plan import Action, decide
from tocsin.manifest.problems import Location, ManifestError
from tocsin.manifest.render import document, dump
from tocsin.manifest.source import load_yaml

HANDLERS_BY_KIND = {h.kind: h for h in HANDLERS}


def problems_of(text: str, name: str = "catalog.yaml") -> list[str]:
    sources, _ = parse([SourceFile(name, text)])
    found = []
    for source in sources:
        _, problems = validate_document(source, HANDLERS_BY_KIND)
        found.extend(str(p) for p in problems)
    return found


def test_every_value_knows_its_file_line_and_column() -> None:
    text = "apiVersion: tocsin/v1\nkind: Service\nspec:\n  tags: [a, b]\n  tier: tier-1\n"
    (doc,) = load_yaml(text, "catalog.yaml")
    assert doc.keys[("spec", "tier")] == Location("catalog.yaml", 5, 3)
    assert doc.values[("spec", "tier")] == Location("catalog.yaml", 5, 9)
    assert doc.values[("spec", "tags", 1)] == Location("catalog.yaml", 4, 13)
    assert str(doc.at(("spec", "tier", "deeper"))) == "catalog.yaml:5:3"


def test_an_invalid_enum_value_is_reported_at_its_line_in_the_files_words() -> None:
    text = """\
apiVersion: tocsin/v1
kind: Service
metadata:
  slug: checkout
spec:
  name: Checkout
  tier: platinum
"""
    assert problems_of(text) == [
        "catalog.yaml:7:3: services[checkout].spec.tier: "
        "must be one of tier-1, tier-2, tier-3, tier-4"
    ]


def test_unknown_kinds_fields_and_a_missing_slug_are_each_named() -> None:
    text = """\
apiVersion: tocsin/v1
kind: Servce
metadata:
  slug: a
---
apiVersion: tocsin/v2
kind: Team
metadata:
  name: payments
spec:
  name: Payments
  colour: blue
"""
    found = problems_of(text)
    assert found[0].startswith("catalog.yaml:2:1: Servce[a].kind: unknown kind 'Servce'")
    assert "catalog.yaml:6:1: teams.apiVersion: must be tocsin/v1" in found
    assert any(p.startswith("catalog.yaml:9:3: teams.metadata.name: unknown field") for p in found)
    assert "catalog.yaml:8:1: teams.metadata.slug: required" in found
    assert "catalog.yaml:12:3: teams.spec.colour: unknown field" in found


def test_a_required_field_left_out_points_at_its_parent() -> None:
    text = "apiVersion: tocsin/v1\nkind: Team\nmetadata:\n  slug: ops\nspec:\n  email: x@y.com\n"
    assert problems_of(text) == ["catalog.yaml:5:1: teams[ops].spec.name: required"]


def test_a_bad_slug_says_what_a_slug_may_contain() -> None:
    text = "apiVersion: tocsin/v1\nkind: Team\nmetadata:\n  slug: Pay_Ments\nspec:\n  name: P\n"
    (problem,) = problems_of(text)
    assert problem.startswith("catalog.yaml:4:3: teams[Pay_Ments].metadata.slug: must be")
    assert "single hyphens" in problem


def test_yaml_syntax_errors_name_the_line() -> None:
    text = "apiVersion: tocsin/v1\nkind: Team\nmetadata:\n  slug: ops\n spec: {\n"
    with pytest.raises(ManifestError) as caught:
        parse([SourceFile("broken.yaml", text)])
    (problem,) = caught.value.problems
    assert problem.location is not None
    assert (problem.location.file, problem.location.line) == ("broken.yaml", 5)
    assert "YAML syntax error" in problem.message


def test_duplicate_keys_are_an_error_not_a_silent_override() -> None:
    with pytest.raises(ManifestError, match=r"dup.yaml:3:1: .*duplicate key"):
        parse([SourceFile("dup.yaml", "kind: Team\nspec: {}\nkind: Service\n")])


def test_alias_bombs_stop_early() -> None:
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        layers.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(ManifestError, match="expands to more than 5000 values"):
        load_yaml("\n".join(layers) + "\n", "bomb.yaml", max_nodes=5000)


def test_a_json_array_of_documents_is_read_as_several_documents() -> None:
    text = (
        '[{"apiVersion": "tocsin/v1", "kind": "Team", "metadata": {"slug": "a"},'
        ' "spec": {"name": "A"}},\n'
        ' {"apiVersion": "tocsin/v1", "kind": "Team", "metadata": {"slug": "b"},'
        ' "spec": {"name": 5}}]'
    )
    assert problems_of(text, "body") == ["body:2:82: teams[b].spec.name: must be a string"]


def test_dependency_shorthand_means_a_hard_dependency() -> None:
    text = """\
apiVersion: tocsin/v1
kind: Service
metadata: {slug: web}
spec:
  name: Web
  dependencies: [api, {service: cache, kind: soft}]
"""
    (source,), _ = parse([SourceFile("x.yaml", text)])
    doc, problems = validate_document(source, HANDLERS_BY_KIND)
    assert not problems and doc is not None
    deps = [(d.service, d.kind.value) for d in doc.spec.dependencies]  # type: ignore[attr-defined]
    assert deps == [("api", "hard"), ("cache", "soft")]


# --- properties -------------------------------------------------------------------------------

slugs = st.from_regex(r"\A[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}\Z")
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r")
    | st.sampled_from("\n\t"),
    max_size=60,
)
tags = st.from_regex(r"\A[a-z0-9][a-z0-9:._/-]{0,20}\Z")


@st.composite
def service_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": draw(st.text(string.printable.strip(), min_size=1))}
    spec["description"] = draw(texts)
    spec["tier"] = draw(st.sampled_from(["tier-1", "tier-2", "tier-3", "tier-4"]))
    spec["tags"] = draw(st.lists(tags, max_size=4, unique=True))
    spec["dependencies"] = [
        {"service": s, "kind": draw(st.sampled_from(["hard", "soft"])), "note": draw(texts)}
        for s in draw(st.lists(slugs, max_size=4, unique=True))
    ]
    return spec


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(slugs, service_specs(), min_size=1, max_size=4))
def test_written_documents_read_back_as_the_same_specs(services: dict[str, Any]) -> None:
    text = dump([document("Service", slug, spec) for slug, spec in services.items()])
    sources, _ = parse([SourceFile("round.yaml", text)])
    handler = HANDLERS_BY_KIND["Service"]
    assert len(sources) == len(services)
    for source in sources:
        doc, problems = validate_document(source, HANDLERS_BY_KIND)
        assert not problems, problems
        assert doc is not None
        expected = handler.spec_model.model_validate({**services[doc.slug], "slug": doc.slug})
        assert handler.canonical(doc.spec) == handler.canonical(expected)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(texts, values, max_size=5), st.dictionaries(texts, values, max_size=5))
def test_a_change_is_unchanged_exactly_when_the_two_sides_are_equal(
    current: dict[str, Any], desired: dict[str, Any]
) -> None:
    change = decide("Team", "t", desired, current)
    assert (change.action is Action.UNCHANGED) == (current == desired)
    if change.action is Action.UPDATE:
        assert change.fields
        assert all(
            f not in current or f not in desired or current[f] != desired[f] for f in change.fields
        )
    assert decide("Team", "t", desired, None).action is Action.CREATE
