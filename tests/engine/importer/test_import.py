import csv
import gzip
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.cli import cli
from engine.importer import ImportInputError, import_file
from engine.models import Account, Contact, DailyUsage, Event

T = "2026-03-01T10:00:00Z"


@pytest.fixture(autouse=True)
def _long_retention(monkeypatch):
    """The files here carry fixed dates; keep them inside the raw-event retention for good."""
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "36500")


def run(*args, input=None):
    return CliRunner().invoke(cli, ["import", *map(str, args)], input=input)


def ndjson(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def events(n, account="acme", start=0):
    return [
        {"id": f"e{i}", "account_id": account, "contact_id": f"u{i % 3}", "name": "report_run", "timestamp": T}
        for i in range(start, start + n)
    ]


def rollups(db):
    with db.read_session() as s:
        return sorted((u.account_id, u.event_name, u.day, u.count, u.active_contacts) for u in s.scalars(select(DailyUsage)))


def count(db, model):
    with db.read_session() as s:
        return len(s.scalars(select(model.id)).all())


def test_csv_accounts_with_traits_columns_and_empty_cells(db, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(
        "id,name,tier,mrr,owner,traits.industry,traits.seats,traits\n"
        'acme,Acme,tech,100,,saas,5,"{""region"": ""eu"", ""seats"": 1}"\n'
        "beta,Beta,low,,kim@cs.example,,,\n",
        encoding="utf-8",
    )
    result = run("accounts", path)
    assert result.exit_code == 0, result.output
    assert "2 rows read, 2 stored, 0 duplicates, 0 rejected" in result.stdout
    with db.read_session() as s:
        acme, beta = s.scalars(select(Account).order_by(Account.external_id)).all()
    # traits.<key> columns fold into traits and win over the JSON column; empty cells are absent.
    assert acme.traits == {"region": "eu", "seats": "5", "industry": "saas"}
    assert acme.owner is None and acme.mrr == 100
    assert beta.owner == "kim@cs.example" and beta.mrr is None and beta.traits == {}


def test_ndjson_events_and_idempotent_reimport(db, tmp_path):
    path = ndjson(tmp_path / "events.ndjson", events(2500))
    first = run("events", path, "--batch-size", 1000)
    assert first.exit_code == 0, first.output
    assert "2500 rows read, 2500 stored, 0 duplicates, 0 rejected" in first.stdout
    before = rollups(db)
    assert sum(r[3] for r in before) == 2500

    again = run("events", path)
    assert again.exit_code == 0
    assert "2500 rows read, 0 stored, 2500 duplicates, 0 rejected" in again.stdout
    assert count(db, Event) == 2500
    assert rollups(db) == before


def test_events_without_ids_are_still_idempotent(db, tmp_path):
    rows = [{k: v for k, v in e.items() if k != "id"} for e in events(3)]
    rows[2]["timestamp"] = "2026-03-01T11:00:00Z"  # rows 0 and 1 differ only by contact
    path = ndjson(tmp_path / "events.jsonl", rows + [{"account_id": "acme", "name": "login"}])
    first = run("events", path)
    assert first.exit_code == 1
    assert "events.jsonl:4: field 'id': an event without an id needs a timestamp" in first.stderr
    assert run("events", path).exit_code == 1
    assert count(db, Event) == 3


def test_gzip_and_stdin(db, tmp_path):
    gz = tmp_path / "events.ndjson.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events(10))
    assert run("events", gz).exit_code == 0
    assert count(db, Event) == 10

    piped = "".join(json.dumps(e) + "\n" for e in events(5, start=10))
    result = run("events", "-", "--format", "ndjson", input=piped)
    assert result.exit_code == 0, result.output
    assert "from <stdin>" in result.stdout
    # gzip is recognised by its content on stdin too
    result = run("events", "-", "--format", "ndjson", input=gzip.compress(json.dumps(events(1, start=15)[0]).encode()))
    assert result.exit_code == 0, result.output
    assert count(db, Event) == 16

    no_format = run("events", "-", input=piped)
    assert no_format.exit_code == 2 and "--format" in no_format.stderr


def test_bad_ndjson_rows_are_reported_by_line_and_the_rest_stored(db, tmp_path):
    good = events(3)
    path = ndjson(
        tmp_path / "events.ndjson",
        [
            good[0],
            "{not json",
            "",  # a blank line is skipped, yet the line numbers after it stay true
            "[1, 2]",
            {"id": "bad1", "account_id": "acme", "name": "report run", "timestamp": T},
            good[1],
            {"id": "bad2", "account_id": "acme", "name": "login", "timestamp": "yesterday", "colour": "red"},
            good[2],
        ],
    )
    errors = tmp_path / "errors.ndjson"
    result = run("events", path, "--errors", errors, "--batch-size", 2)
    assert result.exit_code == 1
    reported = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(e["line"], e["field"]) for e in reported] == [
        (2, None),
        (4, None),
        (5, "name"),
        (7, "timestamp"),
        (7, "colour"),
    ]
    assert "malformed JSON" in reported[0]["reason"] and "line 1" not in reported[0]["reason"]
    assert reported[4]["reason"].startswith("unknown field")
    assert reported[2]["id"] == "bad1"
    assert "events.ndjson:2: malformed JSON" in result.stderr
    assert "7 rows read, 3 stored, 0 duplicates, 4 rejected (5 problems)" in result.stdout
    assert count(db, Event) == 3


def test_bad_csv_rows_are_reported_by_physical_line(db, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "id,account_id,email,name,role\n"
        'u1,acme,u1@acme.test,"Multi\nline name",admin\n'  # lines 2-3
        "u2,acme,not-an-email,Bo,member\n"  # line 4
        "u3,acme,u3@acme.test\n"  # line 5: too few values
        "\n"
        "u4,acme,u4@acme.test,Di,member,extra\n"  # line 7: too many
        "u5,acme,u5@acme.test,Ed,boss\n"  # line 8
        "u6,acme,,Fy,\n",  # line 9: empty cells are absent, so this is fine
        encoding="utf-8",
    )
    errors = tmp_path / "errors.csv"
    result = run("contacts", path, "--errors", errors)
    assert result.exit_code == 1
    with errors.open(newline="", encoding="utf-8") as fh:
        reported = [(int(r["line"]), r["field"], r["id"]) for r in csv.DictReader(fh)]
    assert reported == [(4, "email", "u2"), (5, "", ""), (7, "", ""), (8, "role", "u5")]
    assert "contacts.csv:5: has 3 values but the header has 5 columns" in result.stderr
    with db.read_session() as s:
        stored = dict(s.execute(select(Contact.external_id, Contact.name)).all())
    assert stored == {"u1": "Multi\nline name", "u6": "Fy"}


def test_non_utf8_csv_row_is_rejected_alone(db, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes(b"id,name\na1,Acme\na2,Caf\xe9\na3,Third\n")
    result = run("accounts", path)
    assert result.exit_code == 1
    assert "accounts.csv:3: not valid UTF-8 text" in result.stderr
    assert count(db, Account) == 2


def test_unknown_header_stops_before_importing_anything(db, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("id,acount_id,name,timestamp,propertys.plan\ne1,acme,login,2026-03-01\n", encoding="utf-8")
    result = run("events", path)
    assert result.exit_code == 2
    assert "unknown column 'acount_id' (did you mean 'account_id'?)" in result.stderr
    assert "unknown column 'propertys.plan' (did you mean 'properties.plan'?)" in result.stderr
    assert "missing required column 'account_id'" in result.stderr
    assert result.stderr.count("acount_id") == 1
    assert count(db, Event) == 0 and count(db, Account) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("events.txt", "x", "cannot tell the format"),
        ("events.ndjson", '[{"id": "e1"}]\n', "looks like a JSON array"),
    ],
)
def test_unusable_input_exits_2(db, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = run("events", path)
    assert result.exit_code == 2
    assert message in result.stderr


def test_properties_columns_for_events_and_library_call(db, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "id,account_id,event,occurred_at,properties.report,properties\n"
        'e1,acme,report_run,2026-03-01T09:00:00+09:00,weekly,"{""rows"": 3}"\n',
        encoding="utf-8",
    )
    summary = import_file(db, "events", path)
    assert (summary.rows_read, summary.stored, summary.exit_code) == (1, 1, 0)
    with db.read_session() as s:
        event = s.scalar(select(Event))
    assert event.properties == {"rows": 3, "report": "weekly"}
    assert event.name == "report_run" and event.occurred_at.hour == 0
    with pytest.raises(ImportInputError):
        import_file(db, "widgets", path)


def test_a_row_the_database_refuses_is_rejected_alone(db, tmp_path):
    """A row the field checks pass but the database refuses (here: a trigger) costs only itself."""
    path = ndjson(tmp_path / "accounts.ndjson", [{"id": f"a{i}", "name": f"A{i}"} for i in range(7)])
    if db.dialect == "postgresql":
        create = [
            "CREATE FUNCTION refuse_a4() RETURNS trigger AS $$ BEGIN IF NEW.external_id = 'a4' THEN "
            "RAISE EXCEPTION 'a4 is refused' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_a4 BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION refuse_a4()",
        ]
        drop = ["DROP TRIGGER refuse_a4 ON accounts", "DROP FUNCTION refuse_a4()"]
    else:
        create = [
            "CREATE TRIGGER refuse_a4 BEFORE INSERT ON accounts WHEN NEW.external_id = 'a4' "
            "BEGIN SELECT RAISE(ABORT, 'a4 is refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_a4"]
    with db.engine.begin() as conn:
        for statement in create:
            conn.exec_driver_sql(statement)
    try:
        result = run("accounts", path, "--batch-size", 7)
    finally:
        with db.engine.begin() as conn:
            for statement in drop:
                conn.exec_driver_sql(statement)
    assert result.exit_code == 1, result.output
    assert "accounts.ndjson:5: the database refused this row" in result.stderr
    assert "a4 is refused" in result.stderr
    assert "6 stored" in result.stdout
    with db.read_session() as s:
        assert sorted(s.scalars(select(Account.external_id))) == ["a0", "a1", "a2", "a3", "a5", "a6"]


def test_cli_choices_match_the_engine():
    from engine.cli import import_cmds
    from engine.importer import DEFAULT_BATCH, FORMATS
    from engine.ingest import UPSERTS

    assert import_cmds.KINDS == tuple(UPSERTS)
    assert import_cmds.FORMATS == FORMATS
    assert import_cmds.DEFAULT_BATCH == DEFAULT_BATCH


def test_truncated_gzip_stops_with_exit_2_and_keeps_what_was_read(db, tmp_path):
    data = gzip.compress("".join(json.dumps(e) + "\n" for e in events(5000)).encode())
    path = tmp_path / "events.ndjson.gz"
    path.write_bytes(data[: len(data) // 2])
    result = run("events", path)
    assert result.exit_code == 2
    read = int(result.stdout.split(" rows read")[0].rsplit(" ", 1)[1])
    assert 0 < read < 5000
    assert f"line {read + 1}: cannot read further" in result.stderr
    assert count(db, Event) == read
    # the whole file, imported afterwards, completes the job
    path.write_bytes(data)
    assert run("events", path).exit_code == 0
    assert count(db, Event) == 5000


def test_errors_file_that_is_the_input_is_refused_and_the_input_kept(db, tmp_path):
    path = tmp_path / "in.ndjson"
    content = '{"id": "e1", "account_id": "acme", "name": "login", "timestamp": "2026-03-01T10:00:00Z"}\n'
    path.write_text(content)
    result = CliRunner().invoke(cli, ["import", "events", str(path), "--errors", str(path), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "the errors file is the input file" in result.output
    assert path.read_text() == content
