"""Declarative base and the column types every aggregate shares."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as naive UTC.

    SQLite has no timezone type, and comparing naive with aware datetimes is an
    error in Python; storing UTC everywhere and handing back aware values keeps
    SQL and Python comparisons identical on both backends.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Touchline stores timezone-aware datetimes only")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


EPOCH_DAY = date(1970, 1, 1)


class DayNumber(TypeDecorator[date]):
    """A UTC day: DATE on PostgreSQL, days since 1970-01-01 as an INTEGER on SQLite.

    SQLite keeps dates as text, and its column affinity turns every comparison
    with a bound date into a text-to-number conversion attempt; the usage
    rollups compare days tens of times per row when rules are evaluated, so
    there they are plain integers. Python always sees ``datetime.date``.
    """

    impl = Date
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(Integer() if dialect.name == "sqlite" else Date())

    def process_bind_param(self, value: date | None, dialect) -> date | int | None:
        if value is None or dialect.name != "sqlite":
            return value
        if isinstance(value, datetime):
            raise ValueError(f"{value!r}: a day is a date, not a datetime")
        return (value - EPOCH_DAY).days

    def process_result_value(self, value: Any, dialect) -> date | None:
        if value is None or dialect.name != "sqlite":
            return value
        return _day(int(value))


@lru_cache(maxsize=4096)
def _day(number: int) -> date:
    # Rollup reads turn the same few hundred day numbers into dates millions of times.
    return EPOCH_DAY + timedelta(days=number)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }
