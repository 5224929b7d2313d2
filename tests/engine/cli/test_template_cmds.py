import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.ingest import upsert_accounts, upsert_contacts

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_passes_on_the_shipped_templates(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("templates", "check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 8 templates in en, ja checked, no problems")


def test_check_reports_problems_and_missing_rule_templates(tmp_path, monkeypatch):
    folder = tmp_path / "t"
    shutil.copytree(ROOT / "email_templates", folder)
    (folder / "onboarding/stalled/ja.html").unlink()
    (folder / "renewals/value-recap/en.html").write_text('{% extends "_layouts/base.html" %}{% block subject %}{{ acount }}{% endblock %}')
    shutil.rmtree(folder / "usage")
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(folder))
    result = CliRunner().invoke(cli, ["templates", "check", "--rules", str(ROOT / "rules")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "renewals/value-recap/en.html:1: unknown variable 'acount'; templates see account, contact, owner, usage, rule, links, brand, now, locale, timezone, part, subject" in lines
    assert "renewals/value-recap/en.html: no html part: add {% block html %}...{% endblock %}" in lines
    assert "onboarding/stalled/: no ja version: add onboarding/stalled/ja.html" in lines
    assert "usage/reports-falling/: template 'usage/reports-falling' is used by a rule but does not exist: add usage/reports-falling/en.html" in lines
    assert lines[-1] == f"5 problems in {folder}"


@pytest.fixture
def acme(db):
    with db.session() as s:
        upsert_accounts(s, [{"id": "acme", "name": "Acme <Tools>", "locale": "ja", "renewal_at": "2026-05-01T00:00:00Z"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin", "locale": "en"}])


def test_render_prints_all_parts(acme, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("render", "onboarding/stalled", "--account", "acme", "--contact", "ann", "--app-url", "https://app.test")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Template: onboarding/stalled/en.html\nSubject: Your first project in Acme <Tools> is two minutes away\n\n--- text ---\nHi Ann,")
    assert "--- html ---\n<!DOCTYPE html>" in out and "Acme &lt;Tools&gt;" in out
    # The links a message sent now would carry: a real token for this contact and category.
    from engine.compliance import read_token
    from engine.settings import load_settings

    token = re.search(r"^Unsubscribe: https://app\.test/u/(\S+)$", out, re.M).group(1)
    data = read_token(load_settings(), token)
    assert (data.address, data.category, data.locale) == ("ann@acme.test", "general", "en")
    assert f"Email preferences: https://app.test/preferences/{token}" in out


def test_render_links_to_the_instance_where_the_sent_messages_do(acme, monkeypatch, tmp_path):
    from engine.settings import note_running_url

    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("TOUCHLINE_PORT", raising=False)
    monkeypatch.setenv("TOUCHLINE_PUBLIC_URL", "https://cs.example.com/")
    text = run("render", "onboarding/stalled", "--account", "acme", "--contact", "ann", "--part", "text").output
    assert re.search(r"^Unsubscribe: https://cs\.example\.com/u/\S+$", text, re.M), text
    # touchline up --port 9123 notes its address: a render beside it links there, as its workers do.
    monkeypatch.delenv("TOUCHLINE_PUBLIC_URL")
    monkeypatch.setenv("TOUCHLINE_INSTANCE_DIR", str(tmp_path))
    note_running_url(tmp_path, "http://127.0.0.1:9123")
    text = run("render", "onboarding/stalled", "--account", "acme", "--contact", "ann", "--part", "text").output
    assert re.search(r"^Unsubscribe: http://127\.0\.0\.1:9123/u/\S+$", text, re.M), text


def test_render_shows_the_senders_brand_and_operational_email_without_links(acme, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TOUCHLINE_BRAND_NAME", "Kumo Analytics")
    monkeypatch.setenv("TOUCHLINE_BRAND_COMPANY", "Kumo K.K.")
    text = run("render", "onboarding/stalled", "--account", "acme", "--contact", "ann", "--part", "text").output
    assert "because of your use of Kumo Analytics at Acme <Tools>" in text and "Sent by Kumo K.K." in text
    operational = run("render", "onboarding/stalled", "--account", "acme", "--contact", "ann", "--part", "text", "--category", "operational")
    assert "This is a service message about your use of Kumo Analytics" in operational.output
    assert "/u/" not in operational.output
    bad = CliRunner().invoke(cli, ["render", "onboarding/stalled", "--account", "acme", "--category", "Not A Slug"])
    assert bad.exit_code == 2 and "--category" in bad.output


def test_render_one_part_in_a_chosen_locale(acme, monkeypatch):
    monkeypatch.chdir(ROOT)
    # Without --contact or --locale: the account's locale (ja).
    assert run("render", "onboarding/stalled", "--account", "acme", "--part", "subject").output == "Acme <Tools> の最初のプロジェクトを作成しましょう\n"
    result = run("render", "renewals/value-recap", "--account", "acme", "--contact", "ann", "--locale", "ja", "--part", "text")
    assert result.output.startswith("Ann 様\n\nAcme <Tools> のご契約は 2026年5月1日 に更新されます。")


def test_render_failures_are_clear(db, acme, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["render", "onboarding/stalled", "--account", "nope"])
    assert result.exit_code == 1 and "no account 'nope'" in result.output
    result = CliRunner().invoke(cli, ["render", "onboarding/stalled", "--account", "acme", "--contact", "nope"])
    assert result.exit_code == 1 and "no contact 'nope' at account 'acme'" in result.output
    result = CliRunner().invoke(cli, ["render", "no/such", "--account", "acme"])
    assert result.exit_code == 1 and "no template 'no/such'" in result.output
    # A value the template needs and the data lacks fails with file and line: an
    # account without a renewal date cannot get the renewal recap.
    with db.session() as s:
        upsert_accounts(s, [{"id": "fresh", "name": "Fresh"}])
    result = CliRunner().invoke(cli, ["render", "renewals/value-recap", "--account", "fresh", "--locale", "en"])
    assert result.exit_code == 1
    assert result.output == "Error: renewals/value-recap/en.html:10: html: account has no 'renewal_at' (not a field, or empty for this account)\n"


def test_check_reports_an_extends_inside_a_block_as_file_and_line(tmp_path, monkeypatch):
    folder = tmp_path / "t"
    shutil.copytree(ROOT / "email_templates", folder)
    stalled = folder / "onboarding/stalled/en.html"
    stalled.write_text(stalled.read_text().replace("{% block text %}", '{% block text %}{% extends "_layouts/base.html" %}', 1))
    line = next(i for i, text in enumerate(stalled.read_text().splitlines(), 1) if "{% block text %}{% extends" in text)
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(folder))
    result = CliRunner().invoke(cli, ["templates", "check", "--rules", str(ROOT / "rules")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.splitlines() == [
        f"onboarding/stalled/en.html:{line}: cannot use extend from a non top-level scope",
        f"1 problem in {folder}",
    ]


def test_list_shows_each_template_its_locales_and_the_rules_using_it(db):
    from click.testing import CliRunner

    from engine.cli import cli
    from tests.engine.delivery.test_testsend import RULE
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules

    with db.session() as s:
        apply_rules(s, [(validate_text(RULE, "stalled.yaml", expected_id="stalled").rule, RULE)], author="test")
    result = CliRunner().invoke(cli, ["templates", "list"], catch_exceptions=False)
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert rows["onboarding/stalled"].split()[1:3] == ["en,", "ja"] and "stalled v1 action 1" in rows["onboarding/stalled"]
    assert rows["onboarding/checklist"].rstrip().endswith("-")


def test_test_send_emails_the_address_given_and_refuses_an_unknown_account(db, smtp_server, monkeypatch):
    from click.testing import CliRunner

    from engine.cli import cli
    from engine.ingest import upsert_accounts, upsert_contacts

    with db.session() as s:
        upsert_accounts(s, [{"id": "acme", "name": "Acme"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin"}])
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    ok = CliRunner().invoke(cli, ["templates", "test-send", "onboarding/stalled", "--account", "acme", "--to", "me@vendor.test"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("sent to me@vendor.test: [Test] ")
    assert [m["to"] for m in smtp_server.handler.messages] == [["me@vendor.test"]]
    bad = CliRunner().invoke(cli, ["templates", "test-send", "onboarding/stalled", "--account", "nobody", "--to", "me@vendor.test"])
    assert bad.exit_code == 1 and "no account with the id 'nobody'" in bad.output
