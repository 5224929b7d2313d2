"""The results area through the Flask client: the list and a rule's page on campaigns run through
the real path (tests/conftest.py ``campaign``), their numbers as engine.results.report computes
them, errors for an unknown rule, a bad ``detect`` or variant, the dashboard's harm flag, and
the pages in Japanese."""

from __future__ import annotations

from sqlalchemy import select, update

from engine.models import Delivery, utcnow
from engine.results.report import rule_results
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules
from tests.web.htmlids import ids

PLAIN = "id: plain\nname: Plain nudge\nwhen:\n  account.plan: trial\nactions:\n  - in_app: {template: onboarding/checklist, to: contacts}\n"


def _apply(db, text: str, rule_id: str) -> None:
    with db.session() as s:
        apply_rules(s, [(validate_text(text, f"{rule_id}.yaml", expected_id=rule_id).rule, text)], author="test")


def _results(db, rule_id="trial-nudge", **kwargs):
    with db.read_session() as s:
        return rule_results(s, rule_id, **kwargs)


def test_the_pages_need_a_sign_in_and_viewers_may_read_them(db, client, login_as):
    for path in ("/admin/results/", "/admin/results/trial-nudge"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    viewer = login_as("viewer")
    assert viewer.get("/admin/results/").status_code == 200
    page = ids(viewer.get("/admin/"))
    # The navigation links the area for every role.
    assert any(tag == "a" and attrs.get("href") == "/admin/results/" for tag, attrs in page.tags)


def test_an_empty_installation_says_what_to_do(db, login_as):
    html = login_as("viewer").get("/admin/results/").get_data(as_text=True)
    assert "No rules applied yet" in html and "touchline apply" in html
    assert 'id="results"' not in html


def test_the_list_shows_each_rules_numbers_verdict_and_the_rules_without_a_goal_apart(db, campaign, login_as):
    campaign(accounts=400, treated_rate=0.6, control_rate=0.2)
    _apply(db, PLAIN, "plain")
    r = _results(db)
    response = login_as("viewer").get("/admin/results/")
    assert response.status_code == 200
    page = ids(response)
    assert page.text["treated-trial-nudge"] == f"{r.overall.units:,}" and page.text["control-trial-nudge"] == f"{r.control_units:,}"
    assert page.attrs["verdict-trial-nudge"]["class"] == "badge verdict-better" and page.text["verdict-trial-nudge"] == "Better"
    row = page.text["rule-trial-nudge"]
    assert "project_created within 14 days" in row
    assert f"{r.overall.fixed.treated_rate:.1%}" in row and f"{r.overall.fixed.control_rate:.1%}" in row
    assert "+40.1" in row  # the uplift in points with its always-valid interval
    # A rule without a goal is listed apart, with why.
    assert "rule-plain" in page.text and "verdict-plain" not in page.attrs
    assert "The rule has no goal" in page.text["rule-plain"]


def test_a_rules_page_shows_its_verdict_goal_chart_numbers_and_funnel(db, campaign, login_as):
    campaign(accounts=400, treated_rate=0.6, control_rate=0.2)
    r = _results(db)
    response = login_as("viewer").get("/admin/results/trial-nudge")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = ids(response)
    assert page.text["headline"] == r.headline  # the engine's own words, in English
    assert page.attrs["verdict-code"]["class"] == "badge verdict-better"
    assert page.text["goal-text"] == "project_created within 14 days" and page.text["goal-versions"] == "version 1"
    assert page.attrs["measured-at"] is not None and "2026-11-17T09:00:00Z" in page.text["measured-at"] + html
    assert page.text["treated-rate"] == f"{r.overall.fixed.treated_rate:.1%}"
    # The chart: both panels, with the numbers as a table.
    assert html.count('<svg class="lines"') == 2 and 'class="band"' in html and "grid zero" in html
    assert html.count("<tr><th scope=\"row\">Nov 1") == len(r.days)
    # The daily verdict and the fixed-horizon numbers, labelled as such.
    assert "Fixed-horizon (read once, at the end)" in page.text["fixed"]
    assert r.overall.fixed.method in page.text["fixed"] and "p < 0.001" in page.text["fixed-p"]
    lo, hi = f"{r.overall.fixed.uplift_abs_low * 100:+.1f}", f"{r.overall.fixed.uplift_abs_high * 100:+.1f}"
    assert f"{lo} to {hi}" in page.text["fixed-abs"]
    assert f"{r.overall.fixed.uplift_rel:+.1%}" in page.text["fixed-rel"]
    assert r.overall.sequential.method in page.text["daily"]
    # The funnel, treated and control side by side, right-aligned.
    funnel = r.overall.funnel
    assert page.text["fired"] == "400"
    assert (page.text["assigned-treated"], page.text["assigned-control"]) == (str(funnel.assigned), str(r.control.assigned))
    assert (page.text["sent-treated"], page.text["sent-control"]) == (str(funnel.sent), "—")
    assert page.attrs["sent-treated"]["class"] == "num"
    assert page.text["converted-treated"] == f"{r.overall.converted} / {r.overall.units}"
    assert page.text["converted-control"] == f"{r.control_converted} / {r.control_units}"
    assert "harm" not in page.attrs and "srm" not in page.attrs


def test_an_unknown_rule_is_a_404_page(db, login_as):
    response = login_as("viewer").get("/admin/results/nope")
    assert response.status_code == 404
    page = ids(response)
    assert "nope" in page.text["not-found"]


def test_detect_plans_for_the_uplift_asked_and_a_bad_one_is_refused_with_the_page(db, campaign, login_as):
    campaign(accounts=16, treated_rate=0.5, control_rate=0.25)
    viewer = login_as("viewer")
    page = ids(viewer.get("/admin/results/trial-nudge?detect=3"))
    assert "+3.0 points" in page.text["more-text"] and page.attrs["detect"]["value"] == "3"
    assert page.text["more-text"] == _results(db, detect=0.03).overall.more.text
    for bad in ("abc", "0", "-2", "100", "nan", "1e400"):
        response = viewer.get(f"/admin/results/trial-nudge?detect={bad}")
        assert response.status_code == 400, bad
        page = ids(response)
        assert page.attrs["detect"]["aria-invalid"] == "true"
        assert "above 0 and below 100" in page.text["detect-errors"]
        assert page.text["headline"]  # the results are still shown, planned for the default +5 points


def test_variants_each_row_one_variant_and_an_unknown_variant(db, campaign, login_as):
    campaign(accounts=600, holdout="20%", variants=[("long", 1), ("short", 1)],
             rates={"long": 0.2, "short": 0.6}, control_rate=0.2)  # fmt: skip
    viewer = login_as("viewer")
    page = ids(viewer.get("/admin/results/trial-nudge"))
    assert {"variant-long", "variant-short"} <= set(page.attrs)
    assert "0.025" in page.text["variant-short"] and "Better" in page.text["variant-short"]
    only = viewer.get("/admin/results/trial-nudge?variant=short")
    page = ids(only)
    assert only.status_code == 200 and "variant-long" not in page.attrs
    assert page.text["headline"] == _results(db, variant="short").headline
    assert page.attrs["verdict-code"]["class"] == "badge verdict-better"
    response = viewer.get("/admin/results/trial-nudge?variant=medium")
    assert response.status_code == 400
    page = ids(response)
    assert "medium" in page.text["variant-error"] and "long, short" in page.text["variant-error"]
    assert {"variant-long", "variant-short"} <= set(page.attrs)  # every variant, as without the filter
    plain = viewer.get("/admin/results/trial-nudge?variant=x&detect=3")
    assert plain.status_code == 400


def test_a_play_that_hurts_is_flagged_on_the_list_its_page_and_the_dashboard(db, campaign, login_as):
    campaign(accounts=400, treated_rate=0.1, control_rate=0.5)
    viewer = login_as("viewer")
    page = ids(viewer.get("/admin/results/"))
    assert "Hurts" in page.text["rule-trial-nudge"] and page.attrs["verdict-trial-nudge"]["class"] == "badge verdict-worse"
    page = ids(viewer.get("/admin/results/trial-nudge"))
    assert page.attrs["harm"]["role"] == "alert"
    assert page.text["harm"].count("convert less than control") == 1
    dashboard = ids(viewer.get("/admin/"))
    assert dashboard.attrs["harm-flags"]["role"] == "alert"
    assert "converts less than its control group" in dashboard.text["hurts-trial-nudge"]
    links = [attrs.get("href") for tag, attrs in dashboard.tags if tag == "a"]
    assert "/admin/results/trial-nudge" in links


def test_the_dashboard_has_no_flag_when_no_play_hurts(db, campaign, login_as):
    campaign(accounts=100)
    assert "harm-flags" not in ids(login_as("viewer").get("/admin/")).attrs


def test_a_split_that_is_not_the_one_asked_for_is_a_clear_alert(db, campaign, login_as):
    c = campaign(accounts=400)
    # Make 80 control accounts look sent: the split is no longer the 50% the rule draws.
    moved = c.arms["control"][:80]
    with db.session() as s:
        from engine.models import Account

        account_ids = s.scalars(select(Account.id).where(Account.external_id.in_(moved))).all()
        s.execute(update(Delivery).where(Delivery.account_id.in_(account_ids)).values(status="sent", sent_at=utcnow()))
    r = _results(db)
    assert r.srm is not None and r.srm.mismatch
    viewer = login_as("viewer")
    page = ids(viewer.get("/admin/results/trial-nudge"))
    assert page.attrs["srm"]["role"] == "alert" and "Sample ratio mismatch" in page.text["srm"]
    assert page.text["srm"].split("Sample ratio mismatch")[1].strip() in " ".join(r.notes)  # the engine's own words
    assert "Split mismatch" in ids(viewer.get("/admin/results/")).text["rule-trial-nudge"]


def test_a_goal_not_measured_yet_says_so(db, campaign, login_as):
    c = campaign(accounts=40)
    _apply(db, c.text.replace("within: 14d", "within: 7d"), "trial-nudge")  # a new goal: no pass has read it
    page = ids(login_as("viewer").get("/admin/results/trial-nudge"))
    assert page.text["headline"] == "Not measured yet: the outcomes pass has not read this version."
    assert page.attrs["verdict-code"]["class"] == "badge verdict-no_goal"


def test_the_list_is_computed_again_after_a_pass_or_a_rule_change(db, campaign, login_as):
    viewer = login_as("viewer")
    assert "rule-trial-nudge" not in ids(viewer.get("/admin/results/")).attrs
    campaign(accounts=100)
    assert "rule-trial-nudge" in ids(viewer.get("/admin/results/")).attrs
    _apply(db, PLAIN, "plain")
    assert "rule-plain" in ids(viewer.get("/admin/results/")).attrs


def test_the_pages_in_japanese(db, campaign, login_as):
    campaign(accounts=400, treated_rate=0.1, control_rate=0.5)
    _apply(db, PLAIN, "plain")
    viewer = login_as("viewer")
    ja = {"Accept-Language": "ja"}
    page = ids(viewer.get("/admin/results/", headers=ja))
    assert page.text["verdict-trial-nudge"] == "悪化" and "悪影響" in page.text["rule-trial-nudge"]
    assert "ゴールがありません" in page.text["rule-plain"]
    response = viewer.get("/admin/results/trial-nudge?detect=3", headers=ja)
    html = response.get_data(as_text=True)
    page = ids(response)
    assert '<html lang="ja">' in html
    assert page.text["headline"].startswith("施策群のコンバージョンが対照群より低くなっています")
    assert "日目に判定" in page.text["headline"]
    assert "施策群のコンバージョンが対照群より低くなっています" in page.text["harm"]
    assert "固定期間（最後に一度だけ読む）" in page.text["fixed"]
    assert "treated" not in page.text["headline"].lower()
    bad = ids(viewer.get("/admin/results/trial-nudge?detect=x", headers=ja))
    assert "0 より大きく 100 未満" in bad.text["detect-errors"]
    assert "悪影響" in ids(viewer.get("/admin/", headers=ja)).text["harm-flags"]
    missing = ids(viewer.get("/admin/results/nope", headers=ja))
    assert "nope" in missing.text["not-found"] and "適用されていない" in missing.text["not-found"]


def test_not_enough_data_in_japanese_says_how_many_more(db, campaign, login_as):
    campaign(accounts=16, treated_rate=0.5, control_rate=0.25)
    page = ids(login_as("viewer").get("/admin/results/trial-nudge", headers={"Accept-Language": "ja"}))
    assert page.text["headline"].startswith("まだデータが足りません")
    assert "+5.0 ポイントを検出するには" in page.text["headline"] and "+5.0 ポイントを検出するには" in page.text["more-text"]


def test_the_list_says_when_the_global_holdout_is_off(db, login_as):
    page = ids(login_as("viewer").get("/admin/results/"))
    assert "global holdout is off" in page.text["program-off"]


def test_the_list_shows_the_whole_program_against_the_global_holdout(db, make_app, make_user, tmp_path):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from engine.delivery.holdout import in_global_holdout
    from engine.models import Account, DailyUsage
    from tests.web.conftest import _login

    policy = tmp_path / "policy.yaml"
    policy.write_text("global_holdout: {percent: 10%, measure: {event: login, within: 30d}}\n")
    long_ago = datetime(2025, 1, 1, tzinfo=UTC)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with db.session() as s:
        s.execute(insert(Account), [{"id": i + 1, "external_id": f"a{i}", "name": f"A{i}", "created_at": long_ago,
                                     "updated_at": long_ago} for i in range(600)])  # fmt: skip
        # Every program account logged in yesterday; one holdout account in ten.
        held = [i for i in range(600) if in_global_holdout(f"a{i}", 10)]
        active = [i for i in range(600) if i not in held] + held[::10]
        s.execute(insert(DailyUsage), [{"account_id": i + 1, "event_name": "login", "day": yesterday, "count": 1,
                                        "active_contacts": 1} for i in active])  # fmt: skip
    client = make_app(policy_file=policy).test_client()
    _login(client, make_user("viewer"))
    page = ids(client.get("/admin/results/"))
    table = page.text["program-table"]
    assert f"{600 - len(held):,}" in table and "100.0%" in table
    assert page.attrs["program-verdict"] and "points" in page.text["program-verdict"]
    assert "program-off" not in page.attrs
