"""The fatigue policy: one file that caps how often anyone hears from us, across all rules.

``rules/policy.yaml`` (the name ``policy.yaml`` is reserved in a rules folder:
it is never read as a rule) is read with the same strict YAML reader as rule
files (engine.rules.yamlload: 64 KB, no anchors or tags, YAML 1.2 values,
positions) and checked the same way: every problem at once, each as
``file:line:col: path: message``. docs/delivery.md describes the format;
engine.delivery.limits applies it; its ``global_holdout`` is applied when rules
fire (engine.rules.firing) and measured by engine.results.program.

A missing file is no policy (no fatigue limits, send windows default to UTC)
only when the caller says so (``missing_ok``); a file with problems is never
half-used.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from engine.delivery.holdout import global_holdout_reason
from engine.delivery.windows import zone_or_none
from engine.rules.conditions import EVENT_NAME
from engine.rules.problems import Problem, Problems, describe, from_yaml, suggest
from engine.rules.schema import Limit, Rule
from engine.rules.validate import CATEGORY, CHANNELS, MAX_LIMIT, PERCENT
from engine.rules.yamlload import Path, YamlProblem, load

DEFAULT_PATH = FsPath("rules") / "policy.yaml"
FILE_NAME = DEFAULT_PATH.name  # in a rules folder, never read as a rule (engine.rules.validate.NOT_RULES)
TOP_KEYS = ("default_timezone", "fatigue", "in_app", "global_holdout")
IN_APP_KEYS = ("shown_per_account",)
FATIGUE_KEYS = ("name", "exempt_categories", "channels", "per_account", "per_contact")
GLOBAL_HOLDOUT_KEYS = ("percent", "exempt_categories", "measure")
MEASURE_KEYS = ("event", "within")
MAX_GLOBAL_HOLDOUT_PERCENT = 20.0  # a control group, not a second program: the rest must get the plays
# Never held out, whatever the policy lists: receipts, security notices and the like always go.
OPERATIONAL = "operational"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$")


@dataclass(frozen=True)
class Fatigue:
    """Budgets shared by every rule: at most ``per_account.max`` messages to
    one account in ``per_account.per`` days, and likewise per contact.

    ``name`` is what skip reasons call the messages it limits ("marketing").
    Only messages that ``counts`` are limited and counted.
    """

    name: str = "marketing"
    exempt_categories: frozenset[str] = frozenset({"operational"})
    channels: frozenset[str] = frozenset({"email", "in_app"})
    per_account: Limit | None = None
    per_contact: Limit | None = None

    def counts(self, category: str, channel: str, contact_id: int | None) -> bool:
        """Whether a message is limited by, and counted against, these budgets:
        one on a counted channel, of a category not exempt, to a contact (a
        message with no contact is an alert to the account's owner, not to
        the customer)."""
        return contact_id is not None and channel in self.channels and category not in self.exempt_categories


@dataclass(frozen=True)
class ProgramMeasure:
    """What the program is measured on (engine.results.program): an account is *retained*
    when it had at least one ``event`` (from the daily rollups) in the last ``within`` days
    of the period compared."""

    event: str
    within: int  # days


@dataclass(frozen=True)
class GlobalHoldout:
    """The program's control group: ``percent`` of all accounts (engine.delivery.holdout's
    ``in_global_holdout``, by external id) get none of the marketing plays.

    A marketing play is a message to a customer (a contact: not an alert to the account's
    owner) from a rule whose category is not exempt. ``operational`` is always exempt.
    ``percent`` 0 is off. ``measure`` is None only when it is off.
    """

    percent: float
    measure: ProgramMeasure | None = None
    exempt_categories: frozenset[str] = frozenset({OPERATIONAL})

    @property
    def on(self) -> bool:
        return self.percent > 0

    @property
    def reason(self) -> str:
        """The reason on every message it stops (engine.delivery.holdout.GLOBAL_REASON_PREFIX)."""
        return global_holdout_reason(self.percent)

    def covers(self, rule: Rule) -> bool:
        """Whether the rule is a marketing play: on, its category not exempt, and at least
        one action to customers (a rule of owner alerts only has nothing to hold back)."""
        return self.on and rule.category not in self.exempt_categories and any(a.to.kind != "owner" for a in rule.actions)

    def holds(self, category: str, contact_id: int | None) -> bool:
        """Whether a message of ``category`` to this recipient is held back from an account in
        the group: to a contact, of a category not exempt (an owner alert always goes)."""
        return self.on and contact_id is not None and category not in self.exempt_categories


@dataclass(frozen=True)
class Policy:
    fatigue: Fatigue | None = None
    default_timezone: str = "UTC"  # send windows: when neither contact nor account has a zone
    source: str = ""  # the file it came from; empty for no file
    # In-app nudges newly shown to an account's people: at most max per ``per`` days, all its users together.
    in_app_shown_per_account: Limit | None = None
    # The program's control group; None when the file has no global_holdout (off).
    global_holdout: GlobalHoldout | None = None


NO_POLICY = Policy()


@dataclass
class PolicyError(Exception):
    """A policy file that cannot be used; ``problems`` says every reason."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def validate_policy_text(text: str | bytes, source: str = "<string>") -> tuple[Policy | None, list[Problem]]:
    """A policy, or None and every problem found."""
    try:
        doc = load(text, source)
    except YamlProblem as exc:
        return None, [from_yaml(exc)]
    p = Problems(doc)
    policy = _read(p, doc.data, source)
    problems = sorted(p.items, key=lambda x: (x.line, x.column))  # in reading order, as rule files
    return (policy if not problems else None), problems


def check_policy_file(path: FsPath | str) -> tuple[Policy | None, list[Problem]]:
    """``validate_policy_text`` of a file; an unreadable file is one problem."""
    path = FsPath(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror or exc}")]
    return validate_policy_text(raw, str(path))


def load_policy(path: FsPath | str = DEFAULT_PATH, *, missing_ok: bool = False) -> Policy:
    """The policy in ``path``; raise PolicyError listing every problem.

    With ``missing_ok``, a file that does not exist is ``NO_POLICY``.
    """
    path = FsPath(path)
    if missing_ok and not path.exists():
        return NO_POLICY
    policy, problems = check_policy_file(path)
    if policy is None:
        raise PolicyError(problems)
    return policy


def current_policy() -> Policy:
    """The policy of this process's settings (``Settings.policy_file``: TOUCHLINE_POLICY_FILE,
    else the project's rules/policy.yaml), read again only when the file changed; NO_POLICY
    when there is no file. Raises PolicyError when it cannot be used (as ``load_policy``)."""
    from engine.settings import load_settings  # (engine.settings is read by everything: import late)

    path = load_settings().policy_file
    if path is None:
        return NO_POLICY
    try:
        stat = FsPath(path).stat()
    except OSError as exc:
        raise PolicyError([Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror or exc}")]) from None
    return _policy_at(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _policy_at(path: str, mtime_ns: int, size: int) -> Policy:
    return load_policy(path)  # a PolicyError is not cached: a broken file is read again next time


def _read(p: Problems, data: Any, source: str) -> Policy:
    if data is None:  # an empty file (or only comments): no limits
        return Policy(source=source)
    top = p.mapping(data, (), "a policy such as {fatigue: {per_account: {max: 1, per: 7d}}}")
    if top is None:
        return Policy(source=source)
    p.keys(top, (), TOP_KEYS)
    zone = _zone(p, top["default_timezone"], ("default_timezone",)) if "default_timezone" in top else "UTC"
    fatigue = _fatigue(p, top["fatigue"], ("fatigue",)) if "fatigue" in top else None
    shown = None
    if "in_app" in top:
        in_app = p.mapping(top["in_app"], ("in_app",), "in-app caps such as {shown_per_account: {max: 1, per: 1d}}")
        if in_app is not None and p.keys(in_app, ("in_app",), IN_APP_KEYS) and "shown_per_account" in in_app:
            shown = _limit(p, in_app["shown_per_account"], ("in_app", "shown_per_account"))
    holdout = None
    if "global_holdout" in top:
        # By default it exempts what the fatigue budgets exempt: a category important enough
        # to go whatever the budgets say is no marketing play either.
        exempt = (fatigue.exempt_categories if fatigue is not None else frozenset()) | {OPERATIONAL}
        holdout = _global_holdout(p, top["global_holdout"], ("global_holdout",), exempt)
    return Policy(fatigue, zone or "UTC", source, shown, holdout)


def _zone(p: Problems, value: Any, path: Path) -> str | None:
    text = p.text(value, path, "a time zone such as Europe/Berlin or UTC")
    if text is not None and zone_or_none(text) is None:
        p.add(path, f"unknown time zone {text!r}; use a name such as Europe/Berlin, Asia/Tokyo or UTC")
        return None
    return text


def _fatigue(p: Problems, value: Any, path: Path) -> Fatigue | None:
    data = p.mapping(value, path, "fatigue budgets such as {per_account: {max: 1, per: 7d}}")
    if data is None:
        return None
    known = p.keys(data, path, FATIGUE_KEYS)
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = p.text(data["name"], (*path, "name"), "name", NAME, "1-40 letters, digits, spaces, '-' or '_'")
    if "exempt_categories" in data:
        values["exempt_categories"] = _words(p, data["exempt_categories"], (*path, "exempt_categories"), "category", None)
    if "channels" in data:
        values["channels"] = _words(p, data["channels"], (*path, "channels"), "channel", CHANNELS)
    for key in ("per_account", "per_contact"):
        if key in data:
            values[key] = _limit(p, data[key], (*path, key))
    if known and "per_account" not in data and "per_contact" not in data:  # (a misspelt one was reported)
        p.add(path, "fatigue limits nothing: give per_account and/or per_contact, such as {max: 1, per: 7d}")
    if any(v is None for v in values.values()):
        return None
    return Fatigue(**values)


def _global_holdout(p: Problems, value: Any, path: Path, exempt: frozenset[str]) -> GlobalHoldout | None:
    data = p.mapping(value, path, "a global holdout such as {percent: 5%, measure: {event: login, within: 30d}}")
    if data is None:
        return None
    ok = p.keys(data, path, GLOBAL_HOLDOUT_KEYS, required=("percent",))  # the rest is still checked
    percent = _percent(p, data["percent"], (*path, "percent")) if "percent" in data else None
    if "exempt_categories" in data:
        listed = _words(p, data["exempt_categories"], (*path, "exempt_categories"), "category", None)
        exempt = listed | {OPERATIONAL} if listed is not None else None
    measure = None
    if "measure" in data:
        measure = _measure(p, data["measure"], (*path, "measure"))
    elif percent:  # (0 is off: nothing to measure)
        p.add(path, "missing required key 'measure': what the program is measured on, such as "
                    "{event: login, within: 30d} (retained: a login in the last 30 days of the period)")  # fmt: skip
        return None
    if not ok or percent is None or exempt is None or ("measure" in data and measure is None):
        return None
    return GlobalHoldout(percent, measure, exempt)


def _percent(p: Problems, value: Any, path: Path) -> float | None:
    percent: float | None = None
    match = PERCENT.match(value) if isinstance(value, str) else None
    if match is not None:
        percent = float(match.group(1))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        percent = float(value)
    if percent is None:
        p.add(path, f"expected a percentage such as 5%, got {describe(value)}")
        return None
    if not 0 <= percent <= MAX_GLOBAL_HOLDOUT_PERCENT:
        p.add(path, f"{percent:g}% is out of range: 0% (off) to {MAX_GLOBAL_HOLDOUT_PERCENT:g}% "
                    "(the rest of the accounts must get the program)")  # fmt: skip
        return None
    return percent


def _measure(p: Problems, value: Any, path: Path) -> ProgramMeasure | None:
    data = p.mapping(value, path, "a measure such as {event: login, within: 30d}")
    if data is None:
        return None
    ok = p.keys(data, path, MEASURE_KEYS, required=MEASURE_KEYS)
    hint = "1-100 letters, digits, '_', '.', ':' or '-'"
    event = p.text(data["event"], (*path, "event"), "event name", EVENT_NAME, hint) if "event" in data else None
    within = p.duration(data["within"], (*path, "within")) if "within" in data else None
    if not ok or event is None or within is None:
        return None
    return ProgramMeasure(event, within)


def _words(p: Problems, value: Any, path: Path, what: str, allowed: tuple[str, ...] | None) -> frozenset[str] | None:
    items = value if isinstance(value, list) else [value]
    found: set[str] = set()
    ok = True
    if allowed is not None and not items:
        p.add(path, f"expected at least one {what}: {', '.join(allowed)}")
        return None
    for i, item in enumerate(items):
        where = (*path, i) if isinstance(value, list) else path
        if allowed is None:
            word = p.text(item, where, what, CATEGORY, "use lowercase letters, digits, '-' or '_'")
        elif isinstance(item, str) and item in allowed:
            word = item
        else:
            expected = f"expected one of: {', '.join(allowed)}"
            if isinstance(item, str):
                p.add(where, f"unknown {what} {item!r}; {expected}", suggest(item, allowed))
            else:
                p.add(where, f"expected a {what}, got {describe(item)}; {expected}")
            word = None
        ok = ok and word is not None
        if word is not None:
            found.add(word)
    return frozenset(found) if ok else None


def _limit(p: Problems, value: Any, path: Path) -> Limit | None:
    data = p.mapping(value, path, "{max: N, per: 7d}")
    if data is None or not p.keys(data, path, ("max", "per"), required=("max", "per")):
        return None
    most = p.integer(data["max"], (*path, "max"), 1, MAX_LIMIT)
    per = p.duration(data["per"], (*path, "per"))
    return Limit(most, per) if most is not None and per is not None else None

