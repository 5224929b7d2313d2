"""Rule files -> Rule, or every problem at once.

``validate_text`` reads one rule (strict YAML, engine.rules.yamlload), checks
every key and value, and returns a ``Result`` holding either the typed Rule
(engine.rules.schema) or the full list of problems, each with file, line,
column, the path in the rule and, for misspelt names, a suggestion.
``check_paths`` does the same for files and folders, as ``touchline rules
check`` runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from engine.rules import schema
from engine.rules.conditions import EVENT_NAME, TEMPLATE, ConditionParser
from engine.rules.problems import Problem, Problems, describe, from_yaml, suggest
from engine.rules.schema import Action, Audience, Goal, Limit, Limits, Rule, SendWindow, Variant
from engine.rules.segments import ID, ID_HINT, SegmentLibrary
from engine.rules.yamlload import Document, Path, YamlProblem, load

TOP_KEYS = (
    "id", "name", "description", "owner", "category", "priority", "enabled", "level", "when",
    "trigger", "schedule", "min_dwell", "actions", "limits", "holdout", "goal", "send_window",
    "max_messages_per_cycle",
)  # fmt: skip
REQUIRED = ("id", "name", "when", "actions")
LEVELS = ("account", "contact")
TRIGGERS = ("on_enter", "while_matching", "on_event")
CHANNELS = ("email", "in_app", "webhook")
WEBHOOK_FORMATS = ("json", "slack")  # engine/delivery/channels/webhook.py
NUDGE_KINDS = ("banner", "modal", "card")  # how the product's snippet shows a nudge (docs/inapp.md)
ACTION_KEYS = {
    "email": ("template", "to", "variants"),
    "in_app": ("template", "to", "expires_in", "kind", "priority", "variants"),
    "webhook": ("template", "to", "url", "format"),
}
VARIANT_KEYS = ("name", "weight", "template")
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_VARIANTS = 10
LIMIT_KEYS = ("per_account", "per_contact")
SEND_WINDOW_KEYS = ("days", "hours", "timezone")
GOAL_KINDS = ("event", "leaves_segment", "condition")  # a goal is exactly one of these
GOAL_KEYS = (*GOAL_KINDS, "within")
GOAL_CHOICES = "event, leaves_segment or condition"
GOAL_EXAMPLE = "{event: project_created, within: 14d}"
MAX_PRIORITY = 100
MAX_MESSAGES_PER_CYCLE = 10_000_000
MAX_LIMIT = 1000

CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
ROLE = re.compile(r"^role:([A-Za-z0-9_.\- ]{1,100})$")
PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
HOURS = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$")
URL = re.compile(r"^https?://\S+$")
# A rules folder also holds the fatigue policy (engine.delivery.policy), which is not a rule.
NOT_RULES = ("policy.yaml",)


@dataclass(frozen=True)
class KnownTemplates:
    """The message templates that exist, for checking the ones actions name.

    ``folder`` names where they live in messages (``email_templates``). The
    rules engine does not read templates itself: the caller lists them
    (``TemplateLibrary.names()``).
    """

    folder: str
    names: frozenset[str]


@dataclass
class Result:
    """One file's outcome: ``rule`` is set exactly when ``problems`` is empty."""

    source: str
    rule: Rule | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_text(
    text: str | bytes,
    source: str = "<string>",
    *,
    segments: SegmentLibrary | None = None,
    expected_id: str | None = None,
    templates: KnownTemplates | None = None,
) -> Result:
    """Validate one rule's YAML. ``expected_id`` is the file's name, when it has one;
    with ``templates``, every action's template must be one of them."""
    try:
        doc = load(text, source)
    except YamlProblem as exc:
        return Result(source, None, [from_yaml(exc)])
    return _RuleReader(doc, segments, expected_id, templates).read()


def validate_file(path: FsPath | str, segments: SegmentLibrary | None = None, templates: KnownTemplates | None = None) -> Result:
    path = FsPath(path)
    if segments is None:
        segments = SegmentLibrary.from_folder(path.parent / "segments")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Result(str(path), None, [Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror or exc}")])
    return validate_text(raw, str(path), segments=segments, expected_id=path.stem, templates=templates)


@dataclass
class Check:
    """What ``check_paths`` found."""

    rules: list[Rule] = field(default_factory=list)
    segments: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)


def check_paths(paths: list[str], templates: KnownTemplates | None = None) -> Check:
    """Validate rule files and folders (a folder: its *.yaml rules and its segments/);
    with ``templates``, also that every template an action names exists."""
    check = Check()
    libraries: dict[FsPath, SegmentLibrary] = {}

    def library(folder: FsPath) -> SegmentLibrary:
        key = folder.resolve()
        if key not in libraries:
            libraries[key] = SegmentLibrary.from_folder(folder)
        return libraries[key]

    seen_ids: dict[str, str] = {}
    for given in paths:
        path = FsPath(given)
        if path.is_dir():
            rule_files = [f for f in _yaml_files(path) if f.name not in NOT_RULES]
            segment_dir = path / "segments"
            segment_lib = library(segment_dir)
            segment_files = _yaml_files(segment_dir)
            check.problems += segment_lib.check_all()
            check.segments += len(segment_files)
            check.files += len(segment_files)
        elif path.parent.name == "segments":
            segment_lib = library(path.parent)
            segment_lib.check_all()
            check.problems += [p for p in segment_lib.problems if p.source == str(path)]
            check.segments += 1
            check.files += 1
            continue
        else:
            rule_files = [path]
            segment_lib = library(path.parent / "segments")
        for rule_file in rule_files:
            check.files += 1
            result = validate_file(rule_file, segment_lib, templates)
            check.problems += result.problems
            if result.rule is not None:
                first = seen_ids.setdefault(result.rule.id, result.source)
                if first != result.source:
                    check.problems.append(Problem(result.source, 1, 1, "id", f"id {result.rule.id!r} is also used by {first}"))
                else:
                    check.rules.append(result.rule)
    # Each file's problems in reading order, files in the order given.
    order = {source: i for i, source in reversed(list(enumerate(p.source for p in check.problems)))}
    check.problems.sort(key=lambda p: (order[p.source], p.line, p.column))
    return check


def _yaml_files(folder: FsPath) -> list[FsPath]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


class _RuleReader:
    def __init__(
        self, doc: Document, segments: SegmentLibrary | None, expected_id: str | None, templates: KnownTemplates | None = None
    ) -> None:
        self.doc = doc
        self.p = Problems(doc)
        self.segments = segments
        self.expected_id = expected_id
        self.templates = templates

    def read(self) -> Result:
        p, data = self.p, self.doc.data
        if data is None:
            p.add((), f"the file is empty; a rule needs {', '.join(REQUIRED)}")
            return self._result(None)
        if not isinstance(data, dict):
            p.add((), f"a rule file must be a mapping of keys ({', '.join(REQUIRED)}, ...), got {describe(data)}")
            return self._result(None)
        p.keys(data, (), TOP_KEYS, required=REQUIRED)

        rule_id = self._id(data.get("id")) if "id" in data else None
        name = p.text(data["name"], ("name",), "a name") if "name" in data else None
        values: dict[str, Any] = {}
        if "description" in data:
            values["description"] = p.text(data["description"], ("description",), "text")
        if "owner" in data:
            values["owner"] = p.text(data["owner"], ("owner",), "an owner (a name or email address)")
        if "category" in data:
            values["category"] = p.text(data["category"], ("category",), "category", CATEGORY, "use lowercase letters, digits, '-' or '_'")
        if "priority" in data:
            values["priority"] = p.integer(data["priority"], ("priority",), 0, MAX_PRIORITY)
        if "enabled" in data:
            values["enabled"] = p.boolean(data["enabled"], ("enabled",))
        level = "account"
        if "level" in data:
            level = self._choice(data["level"], ("level",), LEVELS) or "account"
            values["level"] = level
        parser = ConditionParser(p, level, self.segments)  # type: ignore[arg-type]
        when = parser.parse(data["when"], ("when",)) if "when" in data else None
        if "trigger" in data:
            values["trigger"] = self._trigger(data["trigger"])
        if "schedule" in data:
            values["schedule"] = self._schedule(data["schedule"])
        if "min_dwell" in data:
            values["min_dwell"] = p.duration(data["min_dwell"], ("min_dwell",), minimum=0)
        actions = self._actions(data["actions"], level) if "actions" in data else None
        if "limits" in data:
            values["limits"] = self._limits(data["limits"])
        if "holdout" in data:
            values["holdout"] = self._holdout(data["holdout"])
        if "goal" in data:
            values["goal"] = self._goal(data["goal"])
        if "send_window" in data:
            values["send_window"] = self._send_window(data["send_window"])
        if "max_messages_per_cycle" in data:
            path = ("max_messages_per_cycle",)
            values["max_messages_per_cycle"] = p.integer(data["max_messages_per_cycle"], path, 1, MAX_MESSAGES_PER_CYCLE)

        if p.items or rule_id is None or name is None or when is None or actions is None:
            return self._result(None)
        return self._result(Rule(id=rule_id, name=name, when=when, actions=actions, source=self.doc.source, **values))

    def _result(self, rule: Rule | None) -> Result:
        return Result(self.doc.source, rule, list(self.p.items))

    # -- header

    def _id(self, value: Any) -> str | None:
        rule_id = self.p.text(value, ("id",), "rule id", ID, ID_HINT)
        if rule_id is not None and self.expected_id is not None and rule_id != self.expected_id:
            self.p.add(("id",), f"id {rule_id!r} does not match the file name {self.expected_id}.yaml; rename one so they agree")
            return None
        return rule_id

    def _choice(self, value: Any, path: Path, options: tuple[str, ...]) -> str | None:
        if isinstance(value, str) and value in options:
            return value
        self.p.add(path, f"expected one of: {', '.join(options)}, got {describe(value)}", suggest(value, options) if isinstance(value, str) else None)
        return None

    # -- when and how often

    def _trigger(self, value: Any) -> schema.Trigger | None:
        p, path = self.p, ("trigger",)
        if value == "on_enter":
            return schema.OnEnter()
        if isinstance(value, str) and value in TRIGGERS:
            example = "{while_matching: {every: 7d}}" if value == "while_matching" else "{on_event: {events: [login]}}"
            p.add(path, f"{value} needs settings: trigger: {example}")
            return None
        if not isinstance(value, dict):
            self._choice(value, path, TRIGGERS)
            return None
        if len(value) != 1:
            p.add(path, f"expected exactly one trigger of: {', '.join(TRIGGERS)}")
            return None
        kind, settings = next(iter(value.items()))
        where = (*path, kind)
        if kind not in TRIGGERS:
            p.unknown_key(path, kind, TRIGGERS, "trigger")
            return None
        if kind == "on_enter":
            if settings not in (None, {}):
                p.add(where, "on_enter takes no settings")
                return None
            return schema.OnEnter()
        settings = p.mapping(settings, where, f"{kind} settings")
        if settings is None:
            return None
        required = ("every",) if kind == "while_matching" else ("events",)
        if not p.keys(settings, where, required, required=required):
            return None
        if kind == "while_matching":
            every = p.duration(settings["every"], (*where, "every"))
            return None if every is None else schema.WhileMatching(every)
        events = settings["events"]
        if not isinstance(events, list) or not events:
            p.add((*where, "events"), f"expected a non-empty list of event names, got {describe(events)}")
            return None
        names = [p.text(e, (*where, "events", i), "event name", EVENT_NAME, "1-100 letters, digits, '_', '.', ':' or '-'") for i, e in enumerate(events)]
        if any(n is None for n in names):
            return None
        return schema.OnEvent(tuple(names))  # type: ignore[arg-type]

    def _schedule(self, value: Any) -> str | None:
        from croniter import croniter

        text = self.p.text(value, ("schedule",), "a cron expression such as '*/15 * * * *'")
        if text is None:
            return None
        if len(text.split()) != 5 or not croniter.is_valid(text):
            self.p.add(("schedule",), f"{text!r} is not a valid cron expression of five fields (minute hour day month weekday)")
            return None
        return text

    # -- actions

    def _actions(self, value: Any, level: str) -> tuple[Action, ...] | None:
        p, path = self.p, ("actions",)
        if not isinstance(value, list) or not value:
            p.add(path, f"expected a non-empty list of actions such as - email: {{template: ..., to: role:admin}}, got {describe(value)}")
            return None
        actions = [self._action(item, (*path, i), level) for i, item in enumerate(value)]
        if any(a is None for a in actions):
            return None
        tested = [i for i, a in enumerate(actions) if a.variants]
        if len(tested) > 1:
            # One assignment per account and rule, so that results compare accounts, not messages.
            p.add((*path, tested[1]), "only one action of a rule may have variants (results compare the accounts that got each)")
            return None
        return tuple(actions)  # type: ignore[arg-type]

    def _action(self, value: Any, path: Path, level: str) -> Action | None:
        p = self.p
        item = p.mapping(value, path, "an action: email, in_app or webhook")
        if item is None:
            return None
        if len(item) != 1:
            p.add(path, f"one channel per action, found {', '.join(item) or 'none'}; list each as its own - item")
            return None
        channel, settings = next(iter(item.items()))
        if channel not in CHANNELS:
            p.unknown_key(path, channel, CHANNELS, "channel")
            return None
        where = (*path, channel)
        settings = p.mapping(settings, where, f"{channel} settings {{template, to}}")
        if settings is None:
            return None
        ok = p.keys(settings, where, ACTION_KEYS[channel], required=("template", "to"))
        template = (
            p.text(settings["template"], (*where, "template"), "template name", TEMPLATE, "write a path such as onboarding/stalled")
            if "template" in settings
            else None
        )
        known = self.templates
        if template is not None and known is not None and template not in known.names:
            p.add((*where, "template"), f"template {template!r} does not exist in {known.folder}/ (add {template}/en.html there, "
                  "or name an existing one)", suggest(template, known.names))  # fmt: skip
            template = None
        to = self._audience(settings["to"], (*where, "to"), channel, level) if "to" in settings else None
        extra: dict[str, Any] = {}
        if "expires_in" in settings:
            extra["expires_in"] = p.duration(settings["expires_in"], (*where, "expires_in"))
            ok = ok and extra["expires_in"] is not None
        if "kind" in settings:
            extra["kind"] = settings["kind"] if settings["kind"] in NUDGE_KINDS else None
            if extra["kind"] is None:
                p.add((*where, "kind"), f"expected one of {', '.join(NUDGE_KINDS)}, got {describe(settings['kind'])}",
                      suggest(str(settings["kind"]), NUDGE_KINDS))  # fmt: skip
                ok = False
        if "priority" in settings:
            extra["priority"] = p.integer(settings["priority"], (*where, "priority"), 0, MAX_PRIORITY)
            ok = ok and extra["priority"] is not None
        if "variants" in settings:
            extra["variants"] = self._variants(settings["variants"], (*where, "variants"))
            ok = ok and extra["variants"] is not None
        if "url" in settings:
            extra["url"] = p.text(settings["url"], (*where, "url"), "URL", URL, "use http:// or https://")
            ok = ok and extra["url"] is not None
        if "format" in settings:
            extra["format"] = settings["format"] if settings["format"] in WEBHOOK_FORMATS else None
            if extra["format"] is None:
                p.add((*where, "format"), f"expected one of {', '.join(WEBHOOK_FORMATS)}, got {describe(settings['format'])}",
                      suggest(str(settings["format"]), WEBHOOK_FORMATS))  # fmt: skip
                ok = False
        if not ok or template is None or to is None:
            return None
        return Action(channel, template, to, **extra)

    def _variants(self, value: Any, path: Path) -> tuple[Variant, ...] | None:
        p = self.p
        if not isinstance(value, list) or not 2 <= len(value) <= MAX_VARIANTS:
            p.add(path, f"expected a list of 2 to {MAX_VARIANTS} variants such as - {{name: short, template: onboarding/short}}, "
                        f"got {describe(value)}")  # fmt: skip
            return None
        found: list[Variant] = []
        ok = True
        for i, item in enumerate(value):
            where = (*path, i)
            data = p.mapping(item, where, "a variant such as {name: short, template: onboarding/short, weight: 50}")
            if data is None or not p.keys(data, where, VARIANT_KEYS, required=("name",)):
                ok = False
                continue
            name = p.text(data["name"], (*where, "name"), "variant name", VARIANT_NAME, "1-40 lowercase letters, digits, '-' or '_'")
            weight = p.integer(data["weight"], (*where, "weight"), 1, 1000) if "weight" in data else 1
            template = None
            if "template" in data:
                template = p.text(data["template"], (*where, "template"), "template name", TEMPLATE, "write a path such as onboarding/short")
                known = self.templates
                if template is not None and known is not None and template not in known.names:
                    p.add((*where, "template"), f"template {template!r} does not exist in {known.folder}/", suggest(template, known.names))
                    template = None
                ok = ok and template is not None
            if name is not None and any(v.name == name for v in found):
                p.add((*where, "name"), f"variant {name!r} is named twice; each needs its own name")
                name = None
            if name is None or weight is None:
                ok = False
                continue
            found.append(Variant(name, weight, template))
        return tuple(found) if ok else None

    def _audience(self, value: Any, path: Path, channel: str, level: str) -> Audience | None:
        p = self.p
        options = "role:<role> (such as role:admin), contacts, owner" + (", contact" if level == "contact" else "")
        if not isinstance(value, str):
            p.add(path, f"expected one of {options}, got {describe(value)}")
            return None
        role = ROLE.match(value)
        if role:
            return Audience("role", role.group(1))
        if value in ("contacts", "owner", "contact"):
            if value == "contact" and level != "contact":
                p.add(path, "to: contact is for rules with level: contact; use role:<role> or contacts")
                return None
            if value == "owner" and channel == "in_app":
                p.add(path, "the owner is not a user of the product; send owner alerts by email or webhook")
                return None
            return Audience(value)  # type: ignore[arg-type]
        p.add(path, f"unknown recipient {value!r}; expected {options}", suggest(value, ["role:admin", "contacts", "owner", "contact"]))
        return None

    # -- limits and measurement

    def _limits(self, value: Any) -> Limits | None:
        p, path = self.p, ("limits",)
        data = p.mapping(value, path, "limits such as {per_account: {max: 1, per: 30d}}")
        if data is None:
            return None
        ok = p.keys(data, path, LIMIT_KEYS)
        found: dict[str, Limit | None] = {}
        for key in LIMIT_KEYS:
            if key not in data:
                continue
            where = (*path, key)
            limit = p.mapping(data[key], where, "{max: N, per: 30d}")
            if limit is None or not p.keys(limit, where, ("max", "per"), required=("max", "per")):
                ok = False
                continue
            most = p.integer(limit["max"], (*where, "max"), 1, MAX_LIMIT)
            per = p.duration(limit["per"], (*where, "per"))
            if most is None or per is None:
                ok = False
                continue
            found[key] = Limit(most, per)
        return Limits(**found) if ok else None

    def _holdout(self, value: Any) -> float | None:
        p, path = self.p, ("holdout",)
        percent: float | None = None
        if isinstance(value, str) and PERCENT.match(value):
            percent = float(PERCENT.match(value).group(1))  # type: ignore[union-attr]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            percent = float(value)
        if percent is None or percent != percent:
            p.add(path, f"expected a percentage such as 10%, got {describe(value)}")
            return None
        if not 0 <= percent <= schema.MAX_HOLDOUT_PERCENT:
            p.add(path, f"holdout {percent:g}% is out of range: 0% to {schema.MAX_HOLDOUT_PERCENT:g}% (the rest must get the message)")
            return None
        return percent

    def _goal(self, value: Any) -> Goal | None:
        p, path = self.p, ("goal",)
        data = p.mapping(value, path, f"a goal such as {GOAL_EXAMPLE}")
        if data is None:
            return None
        ok = p.keys(data, path, GOAL_KEYS, required=("within",))
        kinds = [key for key in GOAL_KINDS if key in data]
        if not kinds:
            if not any(suggest(key, GOAL_KINDS) for key in data if key not in GOAL_KEYS):  # a misspelt one was reported
                p.add(path, f"a goal needs one of {GOAL_CHOICES}, such as {GOAL_EXAMPLE}")
            ok = False
        elif len(kinds) > 1:
            p.add((*path, kinds[1]), f"a goal is one of {GOAL_CHOICES}, found {' and '.join(kinds)}; "
                                     "keep one (a rule has one goal)")  # fmt: skip
            ok = False
        within = p.duration(data["within"], (*path, "within")) if "within" in data else None
        event: str | None = None
        leaves = False
        condition = None
        if "event" in data:
            event = p.text(data["event"], (*path, "event"), "event name", EVENT_NAME, "1-100 letters, digits, '_', '.', ':' or '-'")
            ok = ok and event is not None
        if "leaves_segment" in data:
            leaves = p.boolean(data["leaves_segment"], (*path, "leaves_segment")) or False
            if data["leaves_segment"] is False:
                p.add((*path, "leaves_segment"), "false measures nothing; write leaves_segment: true, or use event or condition")
            ok = ok and leaves
        if "condition" in data:
            condition = _GoalConditionParser(p, self.segments).parse(data["condition"], (*path, "condition"))
            ok = ok and condition is not None
        if not ok or within is None:
            return None
        return Goal(event, within, leaves, condition)

    def _send_window(self, value: Any) -> SendWindow | None:
        p, path = self.p, ("send_window",)
        data = p.mapping(value, path, 'a send window such as {days: mon-fri, hours: "09:00-18:00"}')
        if data is None:
            return None
        ok = p.keys(data, path, SEND_WINDOW_KEYS)
        window: dict[str, Any] = {}
        if "days" in data:
            days = self._days(data["days"], (*path, "days"))
            ok = ok and days is not None
            window["days"] = days
        if "hours" in data:
            hours = self._hours(data["hours"], (*path, "hours"))
            ok = ok and hours is not None
            if hours is not None:
                window["start_minute"], window["end_minute"] = hours
        if "timezone" in data:
            zone = self._zone(data["timezone"], (*path, "timezone"))
            ok = ok and zone is not None
            window["timezone"] = zone
        return SendWindow(**window) if ok else None

    def _days(self, value: Any, path: Path) -> frozenset[int] | None:
        p = self.p
        parts: list[Any] = value if isinstance(value, list) else value.split(",") if isinstance(value, str) else [value]
        days: set[int] = set()
        for part in parts:
            text = part.strip().lower() if isinstance(part, str) else None
            if not text:
                p.add(path, f"expected days such as mon-fri or [mon, wed, fri], got {describe(part)}")
                return None
            first, dash, last = text.partition("-")
            bad = [d for d in (first, last) if d and d not in schema.WEEKDAYS]
            if bad or (dash and not last):
                p.add(path, f"unknown day {bad[0] if bad else text!r}; days are {', '.join(schema.WEEKDAYS)}", suggest(bad[0], schema.WEEKDAYS) if bad else None)
                return None
            start = schema.WEEKDAYS.index(first)
            end = schema.WEEKDAYS.index(last) if last else start
            # A range may wrap the week: fri-mon is Friday to Monday.
            day = start
            while True:
                days.add(day)
                if day == end:
                    break
                day = (day + 1) % 7
        return frozenset(days)

    def _hours(self, value: Any, path: Path) -> tuple[int, int] | None:
        match = HOURS.match(value.replace(" ", "")) if isinstance(value, str) else None
        if match is None:
            self.p.add(path, f'expected hours such as "09:00-18:00" (quoted), got {describe(value)}')
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            self.p.add(path, f"{value!r} is not a time of day range; hours run 00:00 to 24:00")
            return None
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start >= end:
            self.p.add(path, f"{value!r} ends before it starts; windows cannot cross midnight")
            return None
        return start, end

    def _zone(self, value: Any, path: Path) -> str | None:
        from zoneinfo import ZoneInfo

        text = self.p.text(value, path, "recipient, account or a time zone such as Asia/Tokyo")
        if text is None or text in ("recipient", "account"):
            return text
        try:
            ZoneInfo(text)
        except (ValueError, KeyError, OSError):
            self.p.add(path, f"unknown time zone {text!r}; use recipient, account or a name such as Europe/Berlin")
            return None
        return text


class _GoalConditionParser(ConditionParser):
    """A goal's ``condition``: the rule language, read for the account, which is a goal's unit
    (engine.results.outcomes), also in a contact-level rule. Contact fields, directly or through
    a segment, are refused with that reason."""

    REFUSED = ("a goal's condition is measured for the account (the unit of a goal), so it cannot "
               "use contact fields; use account fields, usage or received")  # fmt: skip

    def __init__(self, problems: Problems, segments: SegmentLibrary | None) -> None:
        super().__init__(problems, "account", segments)

    def _entity(self, key: str, value: Any, path: Path) -> Any:
        if key.partition(".")[0] == "contact":
            self.problems.add(path, self.REFUSED)
            return None
        return super()._entity(key, value, path)

    def _segment(self, value: Any, path: Path) -> Any:
        library = self.segments
        if isinstance(value, str) and library is not None and value in library.names() and value not in library.resolving():
            segment = library.resolve(value)  # parsed once: the base class reads the same
            if segment is not None and segment.uses_contact:
                self.problems.add(path, f"segment {value!r} uses contact fields; {self.REFUSED}")
                return None
        return super()._segment(value, path)
