"""touchline deliveries: the send log from the command line."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_summary_and_list_show_statuses_and_reasons(db, deliveries_with_one_lost):
    deliveries_with_one_lost(3)

    result = run("deliveries")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "nudge: unknown 1, pending 2"
    assert "1 unknown" in result.output

    listed = run("deliveries", "list", "--status", "unknown")
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 2  # the headers and one row
    assert "unknown" in listed.output and "c0@x.test" in listed.output and "may or may not have been sent" in listed.output

    bad = CliRunner().invoke(cli, ["deliveries", "list", "--status", "lost"])
    assert bad.exit_code == 2 and "expected one of" in bad.output


def test_list_has_column_headers_over_aligned_columns(db, deliveries_with_one_lost):
    deliveries_with_one_lost(3)

    header, *rows = run("deliveries", "list").output.splitlines()
    assert header.split() == ["ID", "AT", "(UTC)", "STATUS", "RULE", "CHANNEL", "ACCOUNT", "RECIPIENT", "REASON"]
    assert len(rows) == 3
    for name in ("STATUS", "RULE", "CHANNEL", "ACCOUNT", "RECIPIENT"):
        column = header.index(name)
        assert all(row[column - 2:column] == "  " and row[column] != " " for row in rows), (name, rows)
    assert rows[0].split()[3:7] == ["pending", "nudge", "email", "a2"]


def test_list_says_when_nothing_matches(db, deliveries_with_one_lost):
    deliveries_with_one_lost(1)
    assert run("deliveries", "list", "--status", "failed").output == "no deliveries with status failed\n"


def test_no_deliveries_yet(db):
    assert run("deliveries").output.strip() == "no deliveries yet"


def test_list_takes_the_send_log_filters(db, add_deliveries):
    add_deliveries([{"account": "acme", "status": "failed", "contact": "Ann Lee", "recipient": "ann@x.test", "reason": "550 no"},
                    {"account": "acme", "status": "sent", "recipient": "bob@x.test"},
                    {"account": "initech", "status": "failed", "recipient": "cy@x.test"}])  # fmt: skip
    out = run("deliveries", "list", "--account", "acme", "--status", "failed").output.splitlines()
    assert len(out) == 2 and "Ann Lee <ann@x.test>" in out[1] and "550 no" in out[1]
    assert run("deliveries", "list", "--reason", "nothing like it").output.startswith("no deliveries with reason nothing like it")
    bad = CliRunner().invoke(cli, ["deliveries", "list", "--since", "2026-02-30"])
    assert bad.exit_code == 2 and "--since" in bad.output and "not a date" in bad.output
    unknown = CliRunner().invoke(cli, ["deliveries", "list", "--account", "nobody"])
    assert unknown.exit_code == 2 and "--account" in unknown.output and "no account with id 'nobody'" in unknown.output


def test_export_writes_every_matching_row_as_csv(db, add_deliveries, tmp_path):
    import csv

    ids = add_deliveries([{"status": "failed", "reason": "=cmd|' /C calc'!A0"}, {"status": "sent"}, {"status": "failed"}])
    target = tmp_path / "failed.csv"
    result = CliRunner().invoke(cli, ["deliveries", "export", "--status", "failed", "-o", str(target)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert sorted(int(r["id"]) for r in rows) == sorted([ids[0], ids[2]])
    assert {r["reason"] for r in rows} == {"'=cmd|' /C calc'!A0", ""}
    assert "2 deliveries written" in result.output


def test_show_prints_history_explanation_checks_and_the_message_as_sent(db, smtp_server):
    from tests.engine.delivery.test_record import send_all, settings_for, write_pending

    ids = write_pending(db, accounts=1)
    send_all(db, settings_for(smtp_server.port))
    delivery_id = ids[("email", "ann0@acme.test")]
    out = run("deliveries", "show", str(delivery_id)).output
    assert f"Delivery {delivery_id}: sent" in out and "Ann 0 <ann0@acme.test>" in out and "Acme 0 (acme0)" in out
    history = out.split("History (UTC):")[1].split("Explanation")[0]
    assert [line.split()[2] for line in history.strip().splitlines()] == ["pending", "queued", "sending", "sent"]
    assert "[yes]" in out and "(saw 'trial')" in out
    assert "suppression passed" in " ".join(out.split())
    assert "Subject: " in out and "Message-ID: <touchline.delivery." in out
    raw = CliRunner().invoke(cli, ["deliveries", "show", str(delivery_id), "--raw"], catch_exceptions=False).stdout_bytes
    received = next(m["data"] for m in smtp_server.handler.messages if m["to"] == ["ann0@acme.test"])
    assert raw == received


def test_show_of_an_unknown_id_says_so(db):
    result = CliRunner().invoke(cli, ["deliveries", "show", "424242"])
    assert result.exit_code == 1 and "no delivery 424242" in result.output
