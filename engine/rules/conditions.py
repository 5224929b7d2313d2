"""The ``when:`` part of a rule or segment: YAML values -> engine.rules.ast.

Each condition is a mapping with one key: ``all``, ``any``, ``not``,
``segment``, or a leaf such as ``account.tier``, ``event.login.count``,
``event.report_run.trend``, ``account.owner.changed`` or ``received``. Problems are
collected, never raised; a part with a problem comes back as None and its
parents carry on so that sibling problems are found too.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from engine.rules import ast
from engine.rules.problems import Problems, describe, suggest
from engine.rules.schema import Level, Segment
from engine.rules.yamlload import Path

EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")  # as engine.ingest.fields accepts them
TRAIT_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
TEMPLATE = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:/[a-z0-9][a-z0-9_-]*)*$")

GROUPS = ("all", "any", "not", "segment")
COMPARE_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "contains", "starts_with")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
TEXT_OPS = ("eq", "ne", "in", "not_in", "exists", "contains", "starts_with")
TIME_KEYS = ("older_than", "newer_than", "within_next", "after_next")
WINDOW_KEYS = ("in_last", "between")
USAGE_METRICS = ("count", "active_days", "active_contacts", "days_since_last")
EVENT_METRICS = (*USAGE_METRICS, "trend")
TREND_KEYS = ("over", "change_pct", "min_baseline")
FIELDS = {"account": ast.ACCOUNT_FIELDS, "contact": ast.CONTACT_FIELDS}
RECEIVED_KEYS = ("rule", "action", "within")
MAX_ACTION_INDEX = 999


def known_keys() -> list[str]:
    """Every condition key an operator may write (for did-you-mean)."""
    keys = [*GROUPS, "received"]
    for entity, fields in FIELDS.items():
        keys += [f"{entity}.{name}" for name in fields]
    keys += [f"account.{name}.changed" for name in ast.CHANGE_FIELDS]
    return keys


class SegmentSource(Protocol):
    def names(self) -> list[str]: ...
    def resolving(self) -> list[str]: ...
    def resolve(self, name: str) -> Segment | None: ...


class ConditionParser:
    def __init__(self, problems: Problems, level: Level, segments: SegmentSource | None = None) -> None:
        self.problems = problems
        self.level = level
        self.segments = segments
        self.uses_contact = False  # set when a contact field appears (directly or via a segment)

    # -- structure

    def parse(self, value: Any, path: Path) -> ast.Condition | None:
        data = self.problems.mapping(value, path, "a condition such as {account.tier: tech} or {all: [...]}")
        if data is None:
            return None
        if not data:
            self.problems.add(path, "empty condition; expected all, any, not, segment or a field such as account.tier")
            return None
        keys = list(data)
        if len(keys) > 1:
            self.problems.add(
                (*path, keys[1]),
                f"one condition per mapping, found {len(keys)} ({', '.join(keys)}); list them under all: or any:",
            )
        key = keys[0]
        return self._one(key, data[key], (*path, key))

    def _one(self, key: str, value: Any, path: Path) -> ast.Condition | None:
        if key in ("all", "any"):
            return self._group(key, value, path)
        if key == "not":
            if isinstance(value, list):
                self.problems.add(path, "not takes one condition, not a list; for several write not: {any: [...]}")
                return None
            item = self.parse(value, path)
            return ast.Not(item) if item is not None else None
        if key == "segment":
            return self._segment(value, path)
        if key == "received":
            return self._received(value, path)
        head = key.split(".", 1)[0]
        if head == "event":
            return self._event(key, value, path)
        if head in FIELDS:
            return self._entity(key, value, path)
        self.problems.add(
            path,
            f"unknown condition {key!r}; expected all, any, not, segment, received, account.<field>, "
            "contact.<field> or event.<name>.<metric>",
            suggest(key, known_keys()),
        )
        return None

    def _group(self, key: str, value: Any, path: Path) -> ast.Condition | None:
        if not isinstance(value, list) or not value:
            self.problems.add(path, f"{key} takes a non-empty list of conditions, got {describe(value)}")
            return None
        items = [self.parse(item, (*path, i)) for i, item in enumerate(value)]
        if any(item is None for item in items):
            return None
        return ast.All(tuple(items)) if key == "all" else ast.Any_(tuple(items))  # type: ignore[arg-type]

    def _segment(self, value: Any, path: Path) -> ast.Condition | None:
        name = self.problems.text(value, path, "a segment name")
        if name is None:
            return None
        names = self.segments.names() if self.segments is not None else []
        if name not in names:
            known = f"; known segments: {', '.join(sorted(names))}" if names else "; there are no segments in rules/segments/"
            self.problems.add(path, f"unknown segment {name!r}{known}", suggest(name, names))
            return None
        assert self.segments is not None
        chain = self.segments.resolving()
        if name in chain:
            cycle = " -> ".join([*chain[chain.index(name):], name])
            self.problems.add(path, f"segments refer to each other in a cycle: {cycle}")
            return None
        segment = self.segments.resolve(name)
        if segment is None:
            self.problems.add(path, f"segment {name!r} has problems of its own; fix its file first")
            return None
        if segment.uses_contact:
            if self.level == "account":
                self.problems.add(path, f"segment {name!r} uses contact fields, which only level: contact rules may use")
                return None
            self.uses_contact = True
        return segment.when

    # -- account and contact fields

    def _entity(self, key: str, value: Any, path: Path) -> ast.Condition | None:
        entity, _, rest = key.partition(".")
        if entity == "contact":
            if self.level == "account":
                self.problems.add(path, "contact fields can only be used in rules with level: contact")
                return None
            self.uses_contact = True
        parts = rest.split(".")
        if len(parts) == 2 and parts[1] == "changed":
            return self._changed(entity, parts[0], key, value, path)
        if parts[0] == "traits":
            if len(parts) != 2 or not TRAIT_NAME.match(parts[1]):
                self.problems.add(path, f"expected {entity}.traits.<name> with a name of letters, digits, '_' or '-'")
                return None
            ref = ast.FieldRef(entity, parts[1], trait=True)  # type: ignore[arg-type]
            return self._compare(ref, "trait", key, value, path)
        fields = FIELDS[entity]
        if len(parts) != 1 or parts[0] not in fields:
            options = [f"{entity}.{name}" for name in fields] + [f"{entity}.traits.{rest}"]
            if entity == "account":
                options += [f"account.{name}.changed" for name in ast.CHANGE_FIELDS]
            self.problems.add(
                path,
                f"unknown field {key!r}; {entity} fields are {', '.join(fields)} (or {entity}.traits.<name>)",
                suggest(key, options[:-1]),
            )
            return None
        ref = ast.FieldRef(entity, parts[0])  # type: ignore[arg-type]
        kind = fields[parts[0]]
        if kind == "time":
            return self._time(ref, key, value, path)
        return self._compare(ref, kind, key, value, path)

    def _compare(self, ref: ast.FieldRef, kind: str, key: str, value: Any, path: Path) -> ast.Condition | None:
        p = self.problems
        if isinstance(value, list):
            p.add(path, f"a list needs an operator: write {key}: {{in: [...]}}")
            return None
        if value is None:
            p.add(path, f"to test for a missing value write {key}: {{exists: false}}")
            return None
        if not isinstance(value, dict):
            value = {"eq": value}
            op_path = path  # shorthand: the value sits at the key
        else:
            if len(value) != 1:
                if not value:
                    p.add(path, "expected one operator such as {eq: ...} or {in: [...]}")
                else:
                    second = list(value)[1]
                    p.add((*path, second), "one operator per condition; use between, or several conditions under all:")
                return None
            op_path = (*path, next(iter(value)))
        op, operand = next(iter(value.items()))
        allowed = NUMBER_OPS + ("in", "not_in", "exists") if kind == "number" else TEXT_OPS if kind == "text" else COMPARE_OPS
        if op not in allowed:
            if op in COMPARE_OPS:
                p.add(op_path, f"{op} does not apply to {key}, which is {'a number' if kind == 'number' else 'text'}; use one of: {', '.join(allowed)}")
            elif op in TIME_KEYS:
                p.add(op_path, f"{op} applies to time fields only (such as account.signup_at)")
            else:
                p.unknown_key(path, op, allowed, "operator")
            return None
        checked = self._operand(op, operand, kind, op_path)
        if checked is None:
            return None
        return ast.Compare(ref, op, checked[0])  # type: ignore[arg-type]

    def _operand(self, op: str, operand: Any, kind: str, path: Path) -> tuple[Any] | None:
        """The checked constant for ``op`` (wrapped, since None would mean failure)."""
        p = self.problems
        if op == "exists":
            flag = p.boolean(operand, path)
            return None if flag is None else (flag,)
        if op == "between":
            return self._trait_range(operand, path) if kind == "trait" else self._range(operand, path)
        if op in ("gt", "gte", "lt", "lte"):
            if kind == "trait":
                return self._ordered(operand, path)
            number = p.number(operand, path)
            return None if number is None else (number,)
        if op in ("contains", "starts_with"):
            text = p.text(operand, path, "text")
            return None if text is None else (text,)
        if op in ("in", "not_in"):
            # An empty list is allowed: in: [] is false, not_in: [] holds for any present value.
            if not isinstance(operand, list):
                p.add(path, f"{op} takes a list such as [a, b], got {describe(operand)}")
                return None
            items = [self._scalar(item, kind, (*path, i)) for i, item in enumerate(operand)]
            if any(item is None for item in items):
                return None
            return (tuple(item[0] for item in items),)  # type: ignore[index]
        return self._scalar(operand, kind, path)  # eq, ne

    def _scalar(self, value: Any, kind: str, path: Path) -> tuple[Any] | None:
        p = self.problems
        if kind == "number":
            number = p.number(value, path)
            return None if number is None else (number,)
        if kind == "text":
            text = p.text(value, path, "text")
            return None if text is None else (text,)
        # traits hold JSON: text, numbers (as floats) or booleans
        if isinstance(value, bool):
            return (value,)
        if isinstance(value, (int, float)):
            number = p.number(value, path)
            return None if number is None else (number,)
        if isinstance(value, str):
            return (value,)
        p.add(path, f"expected text, a number or true/false, got {describe(value)}")
        return None

    def _ordered(self, value: Any, path: Path) -> tuple[Any] | None:
        """A trait's gt/gte/lt/lte bound: a number, or text (ordered by code point)."""
        if isinstance(value, str):
            return (value,)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = self.problems.number(value, path)
            return None if number is None else (number,)
        self.problems.add(path, f"expected a number or text to compare with, got {describe(value)}")
        return None

    def _trait_range(self, value: Any, path: Path) -> tuple[Any] | None:
        """A trait's between: two numbers or two texts, low first."""
        p = self.problems
        if not isinstance(value, list) or len(value) != 2:
            p.add(path, f"between takes two numbers or two texts [low, high], got {describe(value)}")
            return None
        if all(isinstance(v, str) for v in value):
            low, high = value
            if low > high:
                p.add(path, f"between [{low!r}, {high!r}] is empty: the low bound comes first (text orders by code point)")
                return None
            return ((low, high),)
        if any(isinstance(v, str) for v in value):
            p.add(path, f"between takes two numbers or two texts, not one of each, got [{describe(value[0])}, {describe(value[1])}]")
            return None
        return self._range(value, path)

    def _range(self, value: Any, path: Path) -> tuple[Any] | None:
        p = self.problems
        if not isinstance(value, list) or len(value) != 2:
            p.add(path, f"between takes two numbers [low, high], got {describe(value)}")
            return None
        low, high = p.number(value[0], (*path, 0)), p.number(value[1], (*path, 1))
        if low is None or high is None:
            return None
        if low > high:
            p.add(path, f"between [{low:g}, {high:g}] is empty: the low bound comes first")
            return None
        return ((low, high),)

    def _time(self, ref: ast.FieldRef, key: str, value: Any, path: Path) -> ast.Condition | None:
        p = self.problems
        if not isinstance(value, dict) or not value:
            p.add(
                path,
                f"{key} is a time; write {{older_than: 7d}}, {{newer_than: 30d}}, {{within_next: 60d}}, "
                f"{{after_next: 60d}} or {{exists: true}}, got {describe(value)}",
            )
            return None
        if "exists" in value:
            if len(value) > 1:
                p.add((*path, "exists"), "exists cannot be combined with other keys; list them under all:")
                return None
            flag = p.boolean(value["exists"], (*path, "exists"))
            return None if flag is None else ast.Compare(ref, "exists", flag)
        bounds: dict[str, int] = {}
        ok = True
        for name, amount in value.items():
            if name not in TIME_KEYS:
                if name in COMPARE_OPS:
                    p.add((*path, name), f"{key} is a time; compare it with {', '.join(TIME_KEYS)} or exists")
                else:
                    p.unknown_key(path, name, (*TIME_KEYS, "exists"))
                ok = False
                continue
            days = p.duration(amount, (*path, name), minimum=0)
            if days is None:
                ok = False
            else:
                bounds[name] = days
        if not ok:
            return None
        older, newer = bounds.get("older_than"), bounds.get("newer_than")
        if older is not None and newer is not None and older >= newer:
            p.add(path, f"older_than {older}d and newer_than {newer}d cannot both hold: older_than must be the smaller")
            return None
        within, after = bounds.get("within_next"), bounds.get("after_next")
        if within is not None and after is not None and after >= within:
            p.add(path, f"after_next {after}d and within_next {within}d cannot both hold: after_next must be the smaller")
            return None
        if (older is not None or newer is not None) and (within is not None or after is not None):
            p.add(path, "a time cannot be both in the past (older_than/newer_than) and the future (within_next/after_next)")
            return None
        return ast.RelativeTime(ref, **bounds)

    def _changed(self, entity: str, name: str, key: str, value: Any, path: Path) -> ast.Condition | None:
        p = self.problems
        if entity != "account" or name not in ast.CHANGE_FIELDS:
            options = [f"account.{field}.changed" for field in ast.CHANGE_FIELDS]
            p.add(path, f"changes are tracked for {', '.join(options)} only", suggest(key, options))
            return None
        data = p.mapping(value, path, "a window such as {in_last: 30d}")
        if data is None:
            return None
        if not p.keys(data, path, WINDOW_KEYS):
            return None
        window = self._window(data, path)
        if window is None:
            if not data:
                p.add(path, "expected a window: in_last: 30d or between: [60d, 30d]")
            return None
        return ast.Changed(name, window)

    # -- messages already sent

    def _received(self, value: Any, path: Path) -> ast.Condition | None:
        # Imported here: engine.rules.segments imports this module.
        from engine.rules.segments import ID, ID_HINT

        p = self.problems
        data = p.mapping(value, path, "{rule: <rule id>, action: <template>, within: 14d}")
        if data is None:
            return None
        ok = p.keys(data, path, RECEIVED_KEYS, required=("rule",))
        rule = p.text(data["rule"], (*path, "rule"), "rule id", ID, ID_HINT) if "rule" in data else None
        action: str | int | None = None
        if "action" in data:
            action = self._action_ref(data["action"], (*path, "action"))
            ok = ok and action is not None
        within = None
        if "within" in data:
            within = p.duration(data["within"], (*path, "within"))
            ok = ok and within is not None
        if not ok or rule is None:
            return None
        return ast.Received(rule, action, within)

    def _action_ref(self, value: Any, path: Path) -> str | int | None:
        """An action of another rule: its template name, or its 0-based place in that rule's actions."""
        p = self.problems
        if isinstance(value, int) and not isinstance(value, bool):
            return p.integer(value, path, 0, MAX_ACTION_INDEX, "an action index")
        if isinstance(value, str) and value.strip():
            return p.text(value, path, "template name", TEMPLATE, "write the action's template, such as onboarding/stalled")
        p.add(path, f"expected the action's template name (such as onboarding/stalled) or its index (0 for the first), got {describe(value)}")
        return None

    # -- usage

    def _window(self, data: dict[str, Any], path: Path) -> ast.Window | None:
        p = self.problems
        if "in_last" in data and "between" in data:
            p.add((*path, "between"), "use in_last or between, not both")
            return None
        if "in_last" in data:
            days = p.duration(data["in_last"], (*path, "in_last"))
            return None if days is None else ast.Window(days, 0)
        if "between" in data:
            where = (*path, "between")
            span = data["between"]
            if not isinstance(span, list) or len(span) != 2:
                p.add(where, f"between takes two durations [older, newer] such as [60d, 30d], got {describe(span)}")
                return None
            start, end = p.duration(span[0], (*where, 0)), p.duration(span[1], (*where, 1), minimum=0)
            if start is None or end is None:
                return None
            if start <= end:
                p.add(where, f"between [{span[0]}, {span[1]}] is empty: the older bound comes first, as in [{span[1]}, {span[0]}]")
                return None
            return ast.Window(start, end)
        return None

    def _event(self, key: str, value: Any, path: Path) -> ast.Condition | None:
        p = self.problems
        parts = key.split(".")
        if len(parts) < 3:
            p.add(path, f"expected event.<name>.<metric> such as event.login.count; metrics: {', '.join(EVENT_METRICS)}")
            return None
        event, metric = ".".join(parts[1:-1]), parts[-1]
        if not EVENT_NAME.match(event):
            p.add(path, f"{event!r} is not an event name: 1-100 letters, digits, '_', '.', ':' or '-'")
            return None
        if metric not in EVENT_METRICS:
            p.add(
                path,
                f"unknown metric {metric!r}; expected one of: {', '.join(EVENT_METRICS)}",
                suggest(key, [f"event.{event}.{m}" for m in EVENT_METRICS]),
            )
            return None
        data = p.mapping(value, path, "a comparison such as {in_last: 30d, gte: 1}")
        if data is None:
            return None
        if metric == "trend":
            return self._trend(event, data, path)
        return self._usage(event, metric, data, path)

    def _usage(self, event: str, metric: str, data: dict[str, Any], path: Path) -> ast.Condition | None:
        p = self.problems
        ok = True
        window_data: dict[str, Any] = {}
        ops: list[str] = []
        for name, operand in data.items():
            # between is a window when it holds durations and a comparison when it holds numbers.
            is_window = name == "in_last" or (name == "between" and _looks_like_durations(operand))
            if is_window:
                window_data[name] = operand
            elif name in NUMBER_OPS:
                ops.append(name)
            else:
                if name in COMPARE_OPS:
                    p.add((*path, name), f"{name} does not apply to usage; use one of: {', '.join(NUMBER_OPS)}")
                else:
                    p.unknown_key(path, name, (*WINDOW_KEYS, *NUMBER_OPS))
                ok = False
        if not ops and ok:
            p.add(path, f"expected one comparison: {', '.join(NUMBER_OPS)}")
            ok = False
        for extra in ops[1:]:
            p.add((*path, extra), "one comparison per condition; use between, or several conditions under all:")
            ok = False
        window = None
        if metric == "days_since_last":
            for name in window_data:
                p.add((*path, name), "days_since_last counts from the last day ever seen; it takes no window")
                ok = False
        elif window_data:
            window = self._window(window_data, path)
            ok = ok and window is not None
        else:
            p.add(path, f"{metric} needs a window: in_last: 30d or between: [60d, 30d]")
            ok = False
        compared = self._number_op(ops[0], data[ops[0]], (*path, ops[0])) if ops else None
        if not ok or compared is None:
            return None
        return ast.Usage(event, metric, window, ops[0], compared[0])  # type: ignore[arg-type]

    def _number_op(self, op: str, operand: Any, path: Path) -> tuple[Any] | None:
        if op == "between":
            return self._range(operand, path)
        number = self.problems.number(operand, path)
        return None if number is None else (number,)

    def _trend(self, event: str, data: dict[str, Any], path: Path) -> ast.Condition | None:
        p = self.problems
        ok = p.keys(data, path, TREND_KEYS, required=("over", "change_pct"))
        days = p.duration(data["over"], (*path, "over")) if "over" in data else None
        baseline = 1.0
        if "min_baseline" in data:
            value = p.number(data["min_baseline"], (*path, "min_baseline"), "a number of events (0 or more)")
            if value is not None and value < 0:
                p.add((*path, "min_baseline"), "min_baseline cannot be negative")
                value = None
            ok = ok and value is not None
            baseline = value if value is not None else baseline
        compared = None
        op = ""
        if "change_pct" in data:
            where = (*path, "change_pct")
            change = p.mapping(data["change_pct"], where, "a comparison such as {lte: -50}")
            if change is not None:
                if len(change) != 1:
                    p.add(where, f"expected one comparison: {', '.join(NUMBER_OPS)}")
                else:
                    op = next(iter(change))
                    if op not in NUMBER_OPS:
                        p.unknown_key(where, op, NUMBER_OPS, "operator")
                    else:
                        compared = self._number_op(op, change[op], (*where, op))
        if not ok or days is None or compared is None:
            return None
        return ast.Trend(event, days, op, compared[0], baseline)  # type: ignore[arg-type]


def _looks_like_durations(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, str) for item in value)
