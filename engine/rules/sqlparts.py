"""SQL pieces that SQLite and PostgreSQL spell differently, for the rule compiler.

Each is a small SQLAlchemy construct compiled per dialect, so the compiler
builds one expression tree and the bound engine decides the spelling.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, String, Text, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

# SQLite json_type names by the constant kind they match (PostgreSQL jsonb_typeof says string/number/boolean).
SQLITE_JSON_TYPES = {"string": ("text",), "number": ("integer", "real"), "boolean": ("true", "false")}


def _unsupported(name: str, dialect: str) -> NotImplementedError:
    return NotImplementedError(f"rule SQL ({name}) supports SQLite and PostgreSQL, not {dialect}")


class _JsonField(FunctionElement[Any]):
    """Base for constructs reading ``column[key]``.

    Both spellings of the key (PostgreSQL's plain key, SQLite's JSON path) are
    bound parameters, so the statement cache never mixes keys up.
    """

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if '"' in key or "\\" in key:
            raise ValueError(f"trait name {key!r}: quotes and backslashes are not supported")
        super().__init__(column, literal(key, String()), literal(f'$."{key}"', String()))


def _json_args(compiler, element, **kw) -> tuple[str, str]:
    col, key, path = _args(compiler, element, **kw)
    return col, (key if compiler.dialect.name == "postgresql" else path)


class JsonKind(_JsonField, FunctionElement[str]):
    """'string' | 'number' | 'boolean' | other/NULL: the JSON type of ``traits[key]``."""

    type = String()
    inherit_cache = True
    name = "json_kind"


class JsonText(_JsonField, FunctionElement[str]):
    """``traits[key]`` as text; only meaningful when JsonKind says 'string'."""

    type = Text()
    inherit_cache = True
    name = "json_text"


class JsonNumber(_JsonField, FunctionElement[float]):
    """``traits[key]`` as a double, NULL unless it holds a JSON number (PostgreSQL would error on a cast)."""

    type = Float()
    inherit_cache = True
    name = "json_number"


class JsonBool(_JsonField, FunctionElement[int]):
    """``traits[key]`` as 1/0, NULL unless it holds a JSON boolean."""

    type = Integer()
    inherit_cache = True
    name = "json_bool"


class Ordered(FunctionElement[str]):
    """Text compared by code point on both backends (PostgreSQL's default collation is locale-aware)."""

    type = Text()
    inherit_cache = True
    name = "ordered"


class StrPos(FunctionElement[int]):
    """1-based position of the second text in the first, 0 if absent (case-sensitive)."""

    type = Integer()
    inherit_cache = True
    name = "strpos"


class DaysBetween(FunctionElement[float]):
    """Whole days from the second day to the first, as a double.

    Both are ``DayNumber`` values: integers on SQLite, DATEs on PostgreSQL.
    """

    type = Float()
    inherit_cache = True
    name = "days_between"


class DayOf(FunctionElement[Any]):
    """The UTC day of a stored timestamp (UTCDateTime), as a DayNumber: days since 1970 on SQLite, DATE on PostgreSQL."""

    inherit_cache = True
    name = "day_of"

    def __init__(self, timestamp: ColumnElement[Any]) -> None:
        from engine.models.base import DayNumber

        super().__init__(timestamp)
        self.type = DayNumber()


def _args(compiler, element, **kw) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


def _sqlite_kind_case(col: str, path: str) -> str:
    # Renamed to PostgreSQL's jsonb_typeof names; 'null', 'array', 'object' are already the same.
    t = f"json_type({col}, {path})"
    whens = " ".join(f"WHEN {t} IN ({', '.join(repr(n) for n in names)}) THEN '{kind}'"
                     for kind, names in SQLITE_JSON_TYPES.items())  # fmt: skip
    return f"(CASE {whens} ELSE {t} END)"


@compiles(JsonKind, "sqlite")
def _kind_sqlite(element, compiler, **kw):
    col, path = _json_args(compiler, element, **kw)
    return _sqlite_kind_case(col, path)


@compiles(JsonKind, "postgresql")
def _kind_pg(element, compiler, **kw):
    col, key = _json_args(compiler, element, **kw)
    return f"jsonb_typeof({col} -> {key})"


@compiles(JsonText, "sqlite")
def _text_sqlite(element, compiler, **kw):
    col, path = _json_args(compiler, element, **kw)
    return f"(CASE WHEN json_type({col}, {path}) = 'text' THEN json_extract({col}, {path}) END)"


@compiles(JsonText, "postgresql")
def _text_pg(element, compiler, **kw):
    col, key = _json_args(compiler, element, **kw)
    return f"(CASE WHEN jsonb_typeof({col} -> {key}) = 'string' THEN ({col} ->> {key}) END)"


@compiles(JsonNumber, "sqlite")
def _number_sqlite(element, compiler, **kw):
    col, path = _json_args(compiler, element, **kw)
    return (f"(CASE WHEN json_type({col}, {path}) IN ('integer', 'real') "
            f"THEN CAST(json_extract({col}, {path}) AS REAL) END)")  # fmt: skip


@compiles(JsonNumber, "postgresql")
def _number_pg(element, compiler, **kw):
    col, key = _json_args(compiler, element, **kw)
    return (f"(CASE WHEN jsonb_typeof({col} -> {key}) = 'number' "
            f"THEN CAST(({col} ->> {key}) AS DOUBLE PRECISION) END)")  # fmt: skip


@compiles(JsonBool, "sqlite")
def _bool_sqlite(element, compiler, **kw):
    col, path = _json_args(compiler, element, **kw)
    return f"(CASE json_type({col}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"


@compiles(JsonBool, "postgresql")
def _bool_pg(element, compiler, **kw):
    col, key = _json_args(compiler, element, **kw)
    return (f"(CASE WHEN jsonb_typeof({col} -> {key}) = 'boolean' "
            f"THEN CASE WHEN ({col} ->> {key}) = 'true' THEN 1 ELSE 0 END END)")  # fmt: skip


@compiles(Ordered, "sqlite")
def _ordered_sqlite(element, compiler, **kw):
    (value,) = _args(compiler, element, **kw)
    return value  # SQLite's default BINARY collation already compares UTF-8 bytes


@compiles(Ordered, "postgresql")
def _ordered_pg(element, compiler, **kw):
    (value,) = _args(compiler, element, **kw)
    return f'(({value}) COLLATE "C")'


@compiles(StrPos, "sqlite")
def _strpos_sqlite(element, compiler, **kw):
    hay, needle = _args(compiler, element, **kw)
    return f"instr({hay}, {needle})"


@compiles(StrPos, "postgresql")
def _strpos_pg(element, compiler, **kw):
    hay, needle = _args(compiler, element, **kw)
    return f"strpos({hay}, {needle})"


@compiles(DaysBetween, "sqlite")
def _days_sqlite(element, compiler, **kw):
    later, earlier = _args(compiler, element, **kw)
    return f"CAST(({later}) - ({earlier}) AS REAL)"


@compiles(DaysBetween, "postgresql")
def _days_pg(element, compiler, **kw):
    later, earlier = _args(compiler, element, **kw)
    return f"CAST(({later}) - ({earlier}) AS DOUBLE PRECISION)"


@compiles(DayOf, "sqlite")
def _day_of_sqlite(element, compiler, **kw):
    (value,) = _args(compiler, element, **kw)
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC); julianday of a date is its midnight.
    return f"CAST(julianday(substr({value}, 1, 10)) - 2440587.5 AS INTEGER)"


@compiles(DayOf, "postgresql")
def _day_of_pg(element, compiler, **kw):
    (value,) = _args(compiler, element, **kw)
    return f"CAST({value} AS DATE)"


@compiles(DayOf)
@compiles(JsonKind)
@compiles(JsonText)
@compiles(JsonNumber)
@compiles(JsonBool)
@compiles(Ordered)
@compiles(StrPos)
@compiles(DaysBetween)
def _default(element, compiler, **kw):
    raise _unsupported(element.name, compiler.dialect.name)
