"""GET /api/v1/results and /api/v1/results/<rule_id>: RuleResults.as_dict() as JSON, behind an
API key, with JSON errors for an unknown rule and bad parameters; the answers fit the schemas
the OpenAPI description publishes."""

from __future__ import annotations

import json

import jsonschema

from engine.results.report import rule_results
from web.api.openapi import SCHEMAS


def _validate(name: str, body: dict) -> None:
    jsonschema.Draft202012Validator({**SCHEMAS[name], "components": {"schemas": SCHEMAS}}).validate(body)


def test_the_results_need_an_api_key(db, client):
    for path in ("/api/v1/results", "/api/v1/results/trial-nudge"):
        response = client.get(path)
        assert response.status_code == 401 and response.json["error"]["code"] == "missing_api_key"
        assert client.get(path, headers={"Authorization": "Bearer tl_wrong"}).status_code == 401


def test_the_list_and_one_rule_as_the_engine_gives_them(db, campaign, client, auth):
    campaign(accounts=300, holdout="20%", variants=[("long", 1), ("short", 1)],
             rates={"long": 0.2, "short": 0.6}, control_rate=0.2)  # fmt: skip
    listed = client.get("/api/v1/results", headers=auth)
    assert listed.status_code == 200 and listed.mimetype == "application/json"
    _validate("ResultsList", listed.json)
    with db.read_session() as s:
        expected = json.loads(json.dumps(rule_results(s, "trial-nudge").as_dict()))
        short = json.loads(json.dumps(rule_results(s, "trial-nudge", variant="short", detect=0.03).as_dict()))
    assert listed.json == {"results": [expected]}
    one = client.get("/api/v1/results/trial-nudge", headers=auth)
    assert one.status_code == 200 and one.json == expected
    _validate("RuleResults", one.json)
    assert one.json["code"] in ("better", "no_evidence", "not_enough_data", "worse")
    assert len(one.json["days"]) == len(one.json["overall"]["sequential"]["series"])
    filtered = client.get("/api/v1/results/trial-nudge?variant=short&detect=3", headers=auth)
    assert filtered.status_code == 200 and filtered.json == short
    assert [v["name"] for v in filtered.json["variants"]] == ["short"] and filtered.json["detect"] == 0.03


def test_an_empty_list_and_a_rule_without_a_goal(db, client, auth):
    assert client.get("/api/v1/results", headers=auth).json == {"results": []}
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules

    text = "id: plain\nname: Plain\nwhen:\n  account.plan: trial\nactions:\n  - in_app: {template: onboarding/checklist, to: contacts}\n"
    with db.session() as s:
        apply_rules(s, [(validate_text(text, "plain.yaml", expected_id="plain").rule, text)], author="test")
    body = client.get("/api/v1/results/plain", headers=auth).json
    assert body["code"] == "no_goal" and body["goal"] is None and body["overall"] is None
    _validate("RuleResults", body)


def test_errors_are_json_and_say_what_to_send(db, campaign, client, auth):
    campaign(accounts=60, variants=[("a", 1), ("b", 1)], rates={"a": 0.5, "b": 0.5})
    missing = client.get("/api/v1/results/nope", headers=auth)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "unknown_rule"
    assert "nope" in missing.json["error"]["message"]
    for bad in ("x", "0", "100", "-1", "inf", "nan"):
        response = client.get(f"/api/v1/results/trial-nudge?detect={bad}", headers=auth)
        assert response.status_code == 400, bad
        assert response.json["error"]["code"] == "invalid_parameter"
        assert "percentage points" in response.json["error"]["message"]
    variant = client.get("/api/v1/results/trial-nudge?variant=c", headers=auth)
    assert variant.status_code == 400 and variant.json["error"]["code"] == "unknown_variant"
    assert "'c'" in variant.json["error"]["message"] and "a, b" in variant.json["error"]["message"]
    assert client.post("/api/v1/results", headers=auth).status_code == 405
