from datetime import datetime, timezone
from decimal import Decimal

import pytest

from engine.ingest import fields as f
from engine.ingest.records import ACCOUNT, EVENT


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-05-01T09:30:00Z", datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-05-01T18:30:00+09:00", datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-05-01", datetime(2026, 5, 1, tzinfo=timezone.utc)),
        (1777627800, datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)),
        ("1777627800", datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)),
        ("1777627800.5", datetime(2026, 5, 1, 9, 30, 0, 500000, tzinfo=timezone.utc)),
    ],
)
def test_timestamps_normalise_to_utc(raw, expected):
    assert f.timestamp(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "", True, None, "2026-13-01", 1e20])
def test_bad_timestamps_say_what_was_expected(raw):
    with pytest.raises(f.FieldError) as err:
        f.timestamp(raw)
    assert str(err.value)


def test_money_and_choices():
    assert f.money("12.345") == Decimal("12.34")  # banker's rounding, as Decimal does
    assert f.money(99) == Decimal("99.00")
    with pytest.raises(f.FieldError, match="at least 0"):
        f.money(-1)
    with pytest.raises(f.FieldError, match="not a number"):
        f.money("ten")
    with pytest.raises(f.FieldError, match="one of: high, low, tech"):
        f.choice("gold", ("high", "low", "tech"))


def test_timezone_locale_email():
    assert f.tz_name("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(f.FieldError, match="IANA timezone"):
        f.tz_name("Tokyo")
    assert f.locale("en_GB") == "en-GB"
    with pytest.raises(f.FieldError, match="locale"):
        f.locale("English")
    with pytest.raises(f.FieldError, match="email"):
        f.email("not-an-email")


def test_mapping_accepts_json_text_and_bounds_size():
    assert f.mapping('{"a": 1}') == {"a": 1}
    with pytest.raises(f.FieldError, match="not valid JSON"):
        f.mapping("{a")
    with pytest.raises(f.FieldError, match="expected an object"):
        f.mapping([1])
    with pytest.raises(f.FieldError, match="larger than"):
        f.mapping({"x": "y" * 20_000})


def test_record_parse_collects_every_error_at_once():
    clean, errors = ACCOUNT.parse(3, {"id": "a", "tier": "gold", "mrr": "x", "colour": "red"})
    assert clean is None
    assert {(e.index, e.field) for e in errors} == {(3, "tier"), (3, "mrr"), (3, "colour")}
    assert all(e.id == "a" for e in errors)


def test_event_aliases():
    clean, errors = EVENT.parse(0, {"account_id": "a", "event": "login", "occurred_at": "2026-01-01"})
    assert errors == [] and clean["name"] == "login" and clean["timestamp"].year == 2026


def test_text_no_database_can_store_is_refused_with_its_path():
    with pytest.raises(f.FieldError, match="NUL character"):
        f.text("a\x00b")
    with pytest.raises(f.FieldError, match="unpaired UTF-16 surrogate") as err:
        f.mapping({"ok": "fine", "deep": [{"x": "\udc00"}]})
    assert err.value.path == "deep[0].x"
    _, errors = ACCOUNT.parse(0, {"id": "a", "traits": {"note": "a\x00b"}})
    assert errors[0].field == "traits" and "(at traits.note)" in errors[0].reason
    assert f.mapping({"emoji": "\N{GRINNING FACE}", "path": "C:\\u0000"}) == {"emoji": "\N{GRINNING FACE}", "path": "C:\\u0000"}


def test_non_finite_numbers_are_refused():
    with pytest.raises(f.FieldError, match="not finite"):
        f.mapping({"v": float("inf")})
    with pytest.raises(f.FieldError, match="not finite"):
        f.mapping({"nested": [float("nan")]})


def nested(depth: int) -> str:
    """JSON text of an object holding arrays ``depth`` levels deep in all."""
    return '{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [f.MAX_TRAITS_DEPTH + 1, 100, 1_000, 100_000])
def test_json_nested_too_deeply_is_a_field_error_not_a_crash(depth):
    with pytest.raises(f.FieldError, match=f"nested deeper than {f.MAX_TRAITS_DEPTH} levels"):
        f.mapping(nested(depth))


def test_objects_nested_too_deeply_are_refused_whatever_the_stack():
    import json

    value = json.loads(nested(f.MAX_TRAITS_DEPTH + 1))  # parsed by the caller, as the API's body is
    with pytest.raises(f.FieldError, match="nested deeper"):
        f.mapping(value)
    assert f.mapping(nested(f.MAX_TRAITS_DEPTH)) == json.loads(nested(f.MAX_TRAITS_DEPTH))
