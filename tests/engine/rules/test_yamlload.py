import time

import pytest

from engine.rules.yamlload import MAX_BYTES, YamlProblem, load



def problem(text: str) -> YamlProblem:
    with pytest.raises(YamlProblem) as err:
        load(text, "rules/r.yaml")
    return err.value


def test_values_and_positions():
    doc = load("id: stalled\nwhen:\n  all:\n    - account.tier: tech\n", "rules/r.yaml")
    assert doc.data == {"id": "stalled", "when": {"all": [{"account.tier": "tech"}]}}
    assert doc.positions[("id",)] == (1, 1)
    assert doc.positions[("when", "all", 0)] == (4, 7)
    assert doc.positions[("when", "all", 0, "account.tier")] == (4, 7)
    assert doc.where(("when", "all", 0, "account.tier", "nope")) == (4, 7)


def test_core_schema_only():
    doc = load("a: yes\nb: no\nc: true\nd: 2026-01-01\ne: 0x10\nf: 1e3\ng: ~\nh: '12'\ni: !!float 2\nj: .inf\n")
    assert doc.data == {
        "a": "yes", "b": "no", "c": True, "d": "2026-01-01", "e": 16,
        "f": 1000.0, "g": None, "h": "12", "i": 2.0, "j": float("inf"),
    }  # fmt: skip


def test_alias_bomb_fails_fast_and_early(alias_bomb):
    assert len(alias_bomb.encode()) == 342
    started = time.perf_counter()
    err = problem(alias_bomb)
    assert time.perf_counter() - started < 0.5  # generous; it takes well under a millisecond
    assert (err.line, err.column) == (1, 4) and "anchors" in err.message


@pytest.mark.parametrize(
    "text, line, column, message",
    [
        ("a: *x\n", 1, 4, "aliases"),
        ("a: !!python/object/apply:os.system ['true']\n", 1, 4, "python/object/apply:os.system' is not allowed"),
        ("a: !!binary aGk=\n", 1, 4, "binary' is not allowed"),
        ("a: !!set {x}\n", 1, 4, "set' is not allowed"),
        ("a: !local 1\n", 1, 4, "'!local' is not allowed"),
        ("a: !!int nope\n", 1, 4, "'nope' is not a valid int"),
        ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first at line 1, column 1)"),
        ("? [a, b]\n: 1\n", 1, 3, "mapping keys must be plain text"),
        ("a: [1, 2\n", 2, 1, "expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", 2, 1, "expected a single document"),
        ("a:\tb: c\n", 1, 3, "found character '\\t' that cannot start any token"),
    ],
)
def test_refusals_name_line_column_and_reason(text, line, column, message):
    err = problem(text)
    assert (err.line, err.column) == (line, column), str(err)
    assert message in err.message
    assert str(err).startswith(f"rules/r.yaml:{line}:{column}: ")


def test_size_and_encoding_limits():
    err = problem("a: " + "x" * MAX_BYTES)
    assert "limit is 65,536" in err.message
    with pytest.raises(YamlProblem, match=r"r.yaml:2:1: not UTF-8: byte 0xff"):
        load(b"a: 1\n\xff\n", "r.yaml")


def test_depth_limit():
    err = problem("a: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested deeper than" in err.message


@pytest.mark.parametrize(
    "text, column",
    [
        ("a: " + "[" * 400 + "]" * 400 + "\n", 4 + 64),  # 803 bytes; the list at level 65
        ("a: " + "{b: " * 400 + "1" + "}" * 400 + "\n", 1 + 4 * 64),  # about 2 KB; the key at level 65
        ("- " * 2000 + "1\n", 1 + 2 * 65),  # block sequences on one line
    ],
)
def test_deep_nesting_stops_at_the_limit_while_reading(text, column):
    # PyYAML's composer recurses once per level: a few hundred levels used to end in
    # a RecursionError before the depth of the result was ever looked at.
    err = problem(text)
    assert (err.line, err.column, err.message) == (1, column, "nested deeper than 64 levels")


def test_nesting_up_to_the_limit_is_read():
    assert load("a: " + "[" * 63 + "]" * 63 + "\n").data == {"a": _nested(63)}


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_empty_document_is_none():
    assert load("", "r.yaml").data is None
    assert load("# only a comment\n", "r.yaml").data is None
