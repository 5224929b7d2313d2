"""The published OpenAPI description: valid, complete, and the same wherever it is read."""

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.ingest.records import ACCOUNT, CONTACT, EVENT
from web.api.openapi import SCHEMAS, document, document_text
from web.api.suppressions import SUPPRESSION

ROOT = Path(__file__).resolve().parents[3]
OAS_SCHEMA = Path(__file__).with_name("data") / "openapi-3.1-schema.yaml"
API_BLUEPRINTS = {"api", "api_public"}


def test_the_document_is_valid_openapi_3_1():
    schema = yaml.safe_load(OAS_SCHEMA.read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(document())]
    assert errors == []
    # The OpenAPI schema leaves Schema Objects unchecked; they are JSON Schema 2020-12.
    for component in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(component)


def test_the_document_lists_every_route_of_the_api_and_no_other(app):
    routes = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())  # Flask's <name>, OpenAPI's {name}
        for rule in app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] in API_BLUEPRINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert routes == documented


@pytest.mark.parametrize(
    ("kind", "name"), [(ACCOUNT, "Account"), (CONTACT, "Contact"), (EVENT, "Event"), (SUPPRESSION, "Suppression")]
)
def test_record_schemas_name_exactly_the_fields_ingest_reads(kind, name):
    schema = SCHEMAS[name]
    assert set(schema["properties"]) == set(kind.parsers) | set(kind.aliases)
    # A required field may arrive under an alias (an event's "event" for "name").
    required = set(schema["required"]) | {r for alt in schema.get("anyOf", []) for r in alt["required"]}
    assert {kind.aliases.get(r, r) for r in required} == set(kind.required)


def test_served_without_a_key_and_identical_to_the_docs_file(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data(as_text=True) == document_text()
    written = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert written == document_text(), "docs/openapi.json is stale: run python -m web.api docs/openapi.json"


def test_the_docs_examples_fit_the_schemas():
    def check(name: str, record: dict) -> None:
        resolver_root = {"components": {"schemas": SCHEMAS}}
        jsonschema.Draft202012Validator({**SCHEMAS[name], **resolver_root}).validate(record)

    check("Event", {"id": "evt-1001", "account_id": "acme", "contact_id": "u-42", "name": "report_run",
                    "timestamp": "2026-11-20T10:00:00Z", "properties": {"report": "weekly"}})  # fmt: skip
    check("Account", {"id": "acme", "tier": "tech", "mrr": 99.5, "traits": {"seats": 5}, "signup_at": 1777627800})
    check("Suppression", {"address": "ann@example.com", "reason": "complained", "source": "fbl yahoo"})
    with pytest.raises(jsonschema.ValidationError):
        check("Event", {"account_id": "acme"})  # no name
    with pytest.raises(jsonschema.ValidationError):
        check("Contact", {"id": "c", "account_id": "a", "colour": "red"})
