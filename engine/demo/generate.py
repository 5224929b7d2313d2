"""The demo dataset as plain ingest records, generated deterministically.

Everything derives from the seed and a reference time (a UTC midnight): the
same pair gives the same accounts, contacts and events, event ids included.
Each account draws from its own random stream, so its data does not depend on
how the accounts before it came out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from engine.delivery.holdout import in_holdout
from engine.demo import people as P

# Archetype -> share of accounts. "owner_changed" is drawn from the high- and
# low-touch accounts only (tech-touch accounts have no owner); what it cannot
# take goes to "healthy".
ARCHETYPES: dict[str, float] = {
    "healthy": 0.50,
    "onboarded": 0.05,
    "stalled_onboarding": 0.10,
    "falling_usage": 0.12,
    "owner_changed": 0.06,
    "renewal_approaching": 0.10,
    "churned": 0.07,
}
DAY = timedelta(days=1)
EVENT_NAMES = ("login", "project_created", "report_run", "invite_sent", "dashboard_viewed", "integration_connected")
# The features that deliver value; health is their use, trended (logins are not health).
KEY_FEATURES = ("project_created", "report_run", "integration_connected")
STEADY = ("healthy", "owner_changed", "renewal_approaching")
# Expected events per weekday for a fully active contact (weight 1).
RATES = {"login": 0.34, "dashboard_viewed": 0.20, "report_run": 0.17, "project_created": 0.012, "invite_sent": 0.008}
WEEKEND = 0.25
MIN_DAYS = 35
# How far the archetype windows reach, relative to the reference time.
TREND_WINDOW = timedelta(days=14)
CHURN_QUIET = timedelta(days=30)
RENEWAL_SOON = timedelta(days=60)
OWNER_CHANGE_RECENT = timedelta(days=30)


def reference_time(now: datetime | date | None = None) -> datetime:
    """The UTC midnight the dataset is built around: ``now``'s UTC day, default today."""
    if now is None:
        now = datetime.now(timezone.utc)
    if isinstance(now, datetime):
        moment = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        day = moment.astimezone(timezone.utc).date()
    else:
        day = now
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


@dataclass
class DemoAccount:
    index: int
    external_id: str
    archetype: str
    tier: str
    record: dict[str, Any]  # as first stored (owner_changed: with the previous owner)
    contacts: list[dict[str, Any]]
    weights: list[float]
    offset: timedelta  # the account timezone's UTC offset at the reference time
    signup_at: datetime
    activity: float
    new_owner: str | None = None
    owner_changed_at: datetime | None = None


@dataclass
class DemoPlan:
    seed: int
    days: int
    reference: datetime
    accounts: list[DemoAccount] = field(default_factory=list)
    # A past campaign planted on request (CampaignPlan): its own accounts, apart from the archetypes.
    campaign: CampaignPlan | None = None
    cohort: list[CohortMember] = field(default_factory=list)

    def archetype_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ARCHETYPES, 0)
        for account in self.accounts:
            counts[account.archetype] += 1
        return counts

    def tier_counts(self) -> dict[str, int]:
        counts = {"high": 0, "low": 0, "tech": 0}
        for account in self.accounts:
            counts[account.tier] += 1
        return counts

    def events(self) -> Iterator[dict[str, Any]]:
        for account in self.accounts:
            yield from account_events(account, self)
        for member in self.cohort:
            yield from cohort_events(member, self)


def _rng(seed: int, *parts: object) -> random.Random:
    # String seeds hash with SHA-512, so streams are stable across runs and
    # unaffected by PYTHONHASHSEED.
    return random.Random(":".join(["touchline-demo", str(seed), *map(str, parts)]))


def archetype_counts(n: int) -> dict[str, int]:
    counts = {}
    for name, share in ARCHETYPES.items():
        if name != "healthy":
            counts[name] = max(round(share * n), 1 if n >= len(ARCHETYPES) else 0)
    while sum(counts.values()) > n:  # only for a handful of accounts
        counts[max(counts, key=counts.__getitem__)] -= 1
    return {"healthy": n - sum(counts.values()), **counts}


def build_plan(
    accounts: int, seed: int, days: int, now: datetime | date | None = None, *, campaign: CampaignPlan | None = None
) -> DemoPlan:
    """The demo's accounts and their archetypes; with ``campaign``, also that campaign's cohort
    (apart from the archetypes, drawn from streams of its own: the rest comes out the same)."""
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS}: the archetypes need that much history")
    if campaign is not None and days < CAMPAIGN_MIN_DAYS:
        raise ValueError(f"days must be at least {CAMPAIGN_MIN_DAYS} with a planted campaign: its accounts signed up that long ago")
    ref = reference_time(now)
    plan = DemoPlan(seed=seed, days=days, reference=ref)
    rng = _rng(seed, "plan")

    high = round(P.TIER_SHARES[0][1] * accounts)
    low = round(P.TIER_SHARES[1][1] * accounts)
    tiers = ["high"] * high + ["low"] * low + ["tech"] * (accounts - high - low)
    rng.shuffle(tiers)

    counts = archetype_counts(accounts)
    owned = [i for i, tier in enumerate(tiers) if tier != "tech"]
    changed = set(rng.sample(owned, min(counts["owner_changed"], len(owned))))
    archetypes = ["owner_changed" if i in changed else "" for i in range(accounts)]
    rest = [i for i in range(accounts) if i not in changed]
    rng.shuffle(rest)
    order = [name for name in ARCHETYPES if name not in ("healthy", "owner_changed")]
    cursor = 0
    for name in order:
        for i in rest[cursor : cursor + counts[name]]:
            archetypes[i] = name
        cursor += counts[name]
    for i in rest[cursor:]:
        archetypes[i] = "healthy"

    names: set[str] = set()
    domains: set[str] = set()
    for i in range(accounts):
        plan.accounts.append(_account(i, tiers[i], archetypes[i], seed, days, ref, names, domains))
    if campaign is not None:
        plan.campaign = campaign
        plan.cohort = [_member(i, campaign, seed, days, ref, names, domains) for i in range(campaign.cohort)]
    return plan


def _account(
    i: int, tier: str, archetype: str, seed: int, days: int, ref: datetime, names: set[str], domains: set[str],
    *, stream: str = "account", tag: str = "",
) -> DemoAccount:
    rng = _rng(seed, stream, i)
    external_id = f"acct-{tag}{i + 1:05d}"
    ja = rng.random() < P.JA_SHARE
    if ja:
        tz, locale = "Asia/Tokyo", "ja"
    else:
        zones, weights = zip(*P.EN_TIMEZONES)
        tz, locale = rng.choices(zones, weights)[0], "en"
    name, slug = _company(rng, ja, tz, names)
    domain = f"{slug}.example"
    if domain in domains:
        domain = f"{slug}-{tag}{i + 1}.example"
    domains.add(domain)

    plans = P.PLANS[tier]
    plan_name, lo, hi, step = rng.choices(plans, P.PLAN_WEIGHTS[tier])[0]
    mrr = rng.randint(lo // step, hi // step) * step

    if archetype in ("stalled_onboarding", "onboarded"):
        signup = ref - timedelta(days=rng.randint(8, 28), seconds=rng.randint(0, 86399))
        renewal = signup + timedelta(days=365)
    elif archetype == COHORT:
        signup = ref - timedelta(days=rng.randint(*COHORT_SIGNUP_DAYS), seconds=rng.randint(0, 86399))
        renewal = signup + timedelta(days=365)
    else:
        signup = ref - timedelta(days=rng.randint(120, 1100), seconds=rng.randint(0, 86399))
        if archetype == "renewal_approaching":
            renewal = ref + timedelta(days=rng.randint(5, 58))
        else:
            renewal = ref + timedelta(days=rng.randint(75, 360))

    owner = new_owner = changed_at = None
    if tier != "tech":
        pool = P.OWNERS_JA if ja else P.OWNERS_EN
        owner = rng.choice(pool)
        if archetype == "owner_changed":
            new_owner = rng.choice([o for o in pool if o != owner])
            changed_at = ref - timedelta(days=rng.randint(1, 27), hours=rng.randint(0, 23))

    contacts, weights = _contacts(rng, external_id, tier, ja, tz, domain)
    record: dict[str, Any] = {
        "id": external_id,
        "name": name,
        "plan": plan_name,
        "mrr": str(mrr),
        "tier": tier,
        "signup_at": _iso(signup),
        "renewal_at": _iso(renewal),
        "timezone": tz,
        "locale": locale,
        "traits": {
            "archetype": archetype,
            "industry": rng.choice(P.INDUSTRIES),
            "seats": len(contacts) + rng.randint(0, 3 * len(contacts)),
        },
    }
    if owner:
        record["owner"] = owner
    return DemoAccount(
        index=i,
        external_id=external_id,
        archetype=archetype,
        tier=tier,
        record=record,
        contacts=contacts,
        weights=weights,
        offset=ZoneInfo(tz).utcoffset(ref.replace(tzinfo=None)) or timedelta(0),
        signup_at=signup,
        activity=rng.uniform(0.6, 1.4),
        new_owner=new_owner,
        owner_changed_at=changed_at,
    )


def _company(rng: random.Random, ja: bool, tz: str, taken: set[str]) -> tuple[str, str]:
    for _ in range(10):
        if ja:
            (prefix, p_r), (business, b_r) = rng.choice(P.JA_COMPANY_PREFIX), rng.choice(P.JA_COMPANY_BUSINESS)
            form = rng.randrange(3)
            name = (f"株式会社{prefix}{business}", f"{prefix}{business}株式会社", f"合同会社{prefix}{business}")[form]
            slug = f"{p_r}-{b_r}"
        else:
            first, second = rng.sample(P.EN_COMPANY_WORD, 2)
            business = rng.choice(P.EN_COMPANY_BUSINESS)
            name = f"{first} {second} {business} {rng.choice(P.EN_SUFFIX[tz])}"
            slug = f"{first}{second}-{business}".lower()
        if name not in taken:
            break
    else:
        name = f"{name} ({len(taken) + 1})"
    taken.add(name)
    return name, slug


def _contacts(
    rng: random.Random, account_id: str, tier: str, ja: bool, tz: str, domain: str
) -> tuple[list[dict[str, Any]], list[float]]:
    lo, hi = P.CONTACTS_PER_TIER[tier]
    n = rng.randint(lo, hi)
    roles = ["admin"]
    if tier == "high" and n >= 5:
        roles.append("admin")
    if n >= 3:
        roles.append("billing")
    roles += ["member"] * (n - len(roles))
    contacts, weights, emails = [], [], set()
    for j, role in enumerate(roles):
        if ja and rng.random() < 0.9:
            (family, f_r), (given, g_r) = rng.choice(P.JA_FAMILY), rng.choice(P.JA_GIVEN)
            name, local, c_locale, c_tz = f"{family} {given}", f"{g_r}.{f_r}", "ja", tz
        else:
            first, last = rng.choice(P.EN_FIRST), rng.choice(P.EN_LAST)
            name, local, c_locale = f"{first} {last}", f"{first}.{last}".lower(), "en"
            c_tz = tz
            if not ja and rng.random() < 0.15:  # a colleague working from another office
                c_tz = rng.choice([z for z, _ in P.EN_TIMEZONES])
        email = f"{local}@{domain}"
        if email in emails:
            email = f"{local}{j + 1}@{domain}"
        emails.add(email)
        contacts.append(
            {
                "id": f"{account_id}-u{j + 1}",
                "account_id": account_id,
                "email": email,
                "name": name,
                "role": role,
                "locale": c_locale,
                "timezone": c_tz,
            }
        )
        weights.append(1.0 if role == "admin" else 0.1 if role == "billing" else round(rng.uniform(0.2, 0.9), 3))
    return contacts, weights


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _factor(archetype: str, name: str, day: int, quiet_from: int) -> float:
    """How much of the usual rate of ``name`` an archetype shows on ``day`` (negative, before the reference)."""
    if archetype == "stalled_onboarding":
        # Stuck users keep logging in and looking around; nothing of value happens.
        return {"login": 1.4, "dashboard_viewed": 0.6, "invite_sent": 1.0}.get(name, 0.0)
    if archetype == "falling_usage" and name in ("report_run", "project_created"):
        return 0.15 if day >= -14 else 1.2
    if archetype == "onboarded" and name == "project_created":
        return 3.0
    if archetype == "churned" and day > quiet_from - 14:
        return 0.5  # tapering off before going quiet
    return 1.0


class _Clock:
    """Moments at local working hours for one account, kept inside [start, end)."""

    def __init__(self, rng: random.Random, offset: timedelta, start: datetime, end: datetime) -> None:
        self.rng, self.offset, self.start, self.end = rng, offset, start, end

    def on(self, day_start: datetime) -> datetime:
        local = timedelta(hours=self.rng.randint(8, 18), seconds=self.rng.randrange(3600))
        moment = day_start + local - self.offset
        if moment >= self.end:
            moment -= timedelta(days=1)
        if moment < self.start:
            moment += timedelta(days=1)
        if not self.start <= moment < self.end:
            moment = self.within(self.start, self.end)
        return moment

    def within(self, lo: datetime, hi: datetime) -> datetime:
        lo, hi = max(lo, self.start), min(hi, self.end)
        return lo + timedelta(seconds=self.rng.randrange(max(1, int((hi - lo).total_seconds()))))


def _properties(rng: random.Random, name: str) -> dict[str, Any] | None:
    if name == "report_run":
        return {"report": rng.choice(P.REPORTS)}
    if name == "project_created":
        return {"template": rng.choice(P.PROJECT_TEMPLATES)}
    if name == "integration_connected":
        return {"integration": rng.choice(P.INTEGRATIONS)}
    if name == "invite_sent":
        return {"role": "member"}
    return None


def account_events(account: DemoAccount, plan: DemoPlan) -> list[dict[str, Any]]:
    """Every event of one account, oldest first, as ingest records."""
    ref, days = plan.reference, plan.days
    rng = _rng(plan.seed, "events", account.index)
    arch = account.archetype
    window_start = ref - timedelta(days=days)
    start = max(window_start, account.signup_at)
    end = ref
    first_day = -days
    if arch in ("stalled_onboarding", "onboarded"):
        first_day = (account.signup_at.date() - ref.date()).days + 1
    last_day = -1
    if arch == "churned":
        last_day = rng.randint(min(-32, max(-days + 7, -70)), -32)
        end = ref - CHURN_QUIET
    clock = _Clock(rng, account.offset, start, end)
    contacts = [c["id"] for c in account.contacts]
    cum, total = [], 0.0
    for w in account.weights:
        total += w
        cum.append(total)
    base = total * account.activity

    events: list[tuple[datetime, str, str, dict[str, Any] | None]] = []

    def add(moment: datetime, name: str, who: str | None = None) -> None:
        contact = who or rng.choices(contacts, cum_weights=cum)[0]
        events.append((moment, name, contact, _properties(rng, name)))

    if arch in ("stalled_onboarding", "onboarded"):
        add(account.signup_at + timedelta(minutes=rng.randint(2, 30)), "login", contacts[0])
    for day in range(first_day, last_day + 1):
        day_start = ref + timedelta(days=day)
        weekday = WEEKEND if day_start.weekday() >= 5 else 1.0
        for name, rate in RATES.items():
            k = _poisson(rng, rate * base * weekday * _factor(arch, name, day, last_day))
            for contact in rng.choices(contacts, cum_weights=cum, k=k) if k else ():
                events.append((clock.on(day_start), name, contact, _properties(rng, name)))
    if arch != "stalled_onboarding":
        for _ in range(rng.choices((0, 1, 2), (5, 4, 1))[0]):
            add(clock.on(ref + timedelta(days=rng.randint(first_day, last_day))), "integration_connected", contacts[0])
    if arch == "onboarded":
        add(min(account.signup_at + timedelta(hours=rng.randint(1, 72)), ref - timedelta(minutes=5)), "project_created", contacts[0])

    events = _shape(rng, arch, events, clock, ref, add)
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    records = []
    for n, (moment, name, contact, props) in enumerate(events, 1):
        record: dict[str, Any] = {
            "id": f"{account.external_id}-s{plan.seed}-e{n:05d}",
            "account_id": account.external_id,
            "contact_id": contact,
            "name": name,
            "timestamp": _iso(moment),
        }
        if props:
            record["properties"] = props
        records.append(record)
    return records


def _shape(rng: random.Random, arch: str, events: list, clock: _Clock, ref: datetime, add) -> list:
    """Make each archetype hold exactly what it promises, whatever the random draws gave.

    ``add`` appends to ``events``; filtering comes last so that nothing is added to a discarded list.
    """
    w2_start, w1_start = ref - TREND_WINDOW, ref - 2 * TREND_WINDOW

    def reports(lo: datetime, hi: datetime) -> list[int]:
        return [i for i, e in enumerate(events) if e[1] == "report_run" and lo <= e[0] < hi]

    def top_up(name: str, lo: datetime, hi: datetime, have: int, want: int) -> None:
        for _ in range(max(0, want - have)):
            add(clock.within(lo, hi), name)

    def never_falling() -> None:
        # Rules run all through the reference day, when "the last 14 days"
        # is R-13d..R plus an empty today: hold the promise for that
        # alignment too, not only for the windows ending at R.
        for end in (ref, ref + DAY):
            cur_start, prev_start = end - TREND_WINDOW, end - 2 * TREND_WINDOW
            w1, w2 = len(reports(prev_start, cur_start)), len(reports(cur_start, ref))
            top_up("report_run", max(cur_start, ref - TREND_WINDOW + DAY), ref, w2, max(3, math.ceil(0.75 * w1)))

    if arch in STEADY:
        w1 = len(reports(w1_start, w2_start))
        top_up("report_run", w1_start, w2_start, w1, 3)
        never_falling()
        recent = sum(1 for e in events if e[1] == "login" and e[0] >= ref - timedelta(days=7))
        top_up("login", ref - timedelta(days=7), ref, recent, 1)
    elif arch == "onboarded":
        # Usage grows after signup; it must never look like a fall.
        never_falling()
    elif arch == "falling_usage":
        w1 = len(reports(w1_start, w2_start))
        top_up("report_run", w1_start, w2_start, w1, 8)
        w1 = max(w1, 8)
        logins = sum(1 for e in events if e[1] == "login" and e[0] >= w2_start)
        top_up("login", w2_start, ref, logins, 2)  # still logging in: logins hide the fall
        late = reports(w2_start, ref)
        allowed = math.floor(0.4 * w1)
        if len(late) > allowed:
            drop = set(rng.sample(late, len(late) - allowed))
            events = [e for i, e in enumerate(events) if i not in drop]
    elif arch == "stalled_onboarding":
        logins = sum(1 for e in events if e[1] == "login")
        top_up("login", clock.start, ref, logins, 3)
    elif arch == "churned":
        if not events:
            add(clock.within(clock.start, clock.end), "login")
        events = [e for e in events if e[0] < ref - CHURN_QUIET]
    return events


# -- a planted campaign (opt-in) ---------------------------------------------------
#
# A past campaign of a rule like onboarding-stalled-day7 with a known effect, so that
# `touchline results` can be checked against the truth: a cohort of tech-touch accounts,
# apart from the archetypes, that stalled after signing up, entered the rule's segment a
# week after signup, were held out (the rule's own draw) or nudged, and then created their
# first project within the goal's window with a planted probability per arm.

COHORT = "campaign_cohort"  # traits.archetype of the cohort's accounts
# Signed up this many days before R: the rule (signup newer than 30d) no longer matches
# them at R, and every goal window of the campaign ended at least 3 weeks before R.
COHORT_SIGNUP_DAYS = (45, 59)
CAMPAIGN_MIN_DAYS = 60
ENTERS_AFTER = timedelta(days=7)  # the rule's `account.signup_at: {older_than: 7d, ...}`
LEAVES_AFTER = timedelta(days=30)  # ... `newer_than: 30d`
CYCLE = timedelta(minutes=15)  # the rule's evaluation schedule (the default, every 15 minutes)
# A planted conversion falls this long after the firing, up to a day before the window
# ends: after any wait for the send window (Friday evening to Monday morning is under 3
# days), so inside every arm's window whatever the exposure, and never on the day of the
# firing (the rule's "no project in the last 30 days" reads whole days).
CONVERTS_AFTER = timedelta(days=3)
CAMPAIGN_GOAL = "project_created"  # the event the planted conversions are
COHORT_FACTORS = {"login": 1.4, "dashboard_viewed": 0.6, "invite_sent": 1.0}  # stalled: looks around, makes nothing
COHORT_FADING = 0.3  # ... and less and less once the campaign's window passed without a project


@dataclass(frozen=True)
class CampaignPlan:
    """What to plant: ``cohort`` accounts, each converting (a CAMPAIGN_GOAL event within
    ``within_days`` of the firing) with probability ``control_rate`` when held out and
    ``control_rate + uplift`` when nudged. ``holdout`` must be the rule's holdout percent:
    the arms are drawn with the rule's own draw (engine.delivery.holdout), before the
    rule exists in the database."""

    uplift: float
    control_rate: float = 0.20
    cohort: int = 2000
    rule_id: str = "onboarding-stalled-day7"
    holdout: float = 10.0
    within_days: int = 14

    def __post_init__(self) -> None:
        if self.cohort < 1:
            raise ValueError("the campaign's cohort needs at least 1 account")
        if not 0 <= self.control_rate <= 1:
            raise ValueError(f"control_rate {self.control_rate!r} is not a probability (0 to 1)")
        if not 0 <= self.treated_rate <= 1:
            raise ValueError(
                f"an uplift of {self.uplift * 100:+g} points on a control rate of {self.control_rate * 100:g}% is a "
                "treated rate outside 0-100%"
            )
        if not 0 < self.holdout < 100:
            raise ValueError(f"holdout {self.holdout!r}: the campaign needs a control group (0 to 100 percent)")
        if self.within_days < 5:
            raise ValueError("within_days must be at least 5 (conversions are planted from day 3 of the window)")

    @property
    def treated_rate(self) -> float:
        return self.control_rate + self.uplift

    def rate(self, arm: str) -> float:
        return self.treated_rate if arm == "treated" else self.control_rate


@dataclass
class CohortMember:
    """One account of a planted campaign and what happened to it."""

    account: DemoAccount
    arm: str  # "treated" or "control": the rule's holdout draw for this account
    entered_at: datetime  # the cycle that found it in the segment and fired (a week after signup)
    left_at: datetime  # the cycle that found it out of the segment (30 days after signup)
    converted_at: datetime | None  # its planted first project, inside the goal window; None if it did not convert


def _member(
    i: int, campaign: CampaignPlan, seed: int, days: int, ref: datetime, names: set[str], domains: set[str]
) -> CohortMember:
    account = _account(i, "tech", COHORT, seed, days, ref, names, domains, stream="cohort", tag="c")
    arm = "control" if in_holdout(campaign.rule_id, account.external_id, campaign.holdout) else "treated"
    entered = _next_cycle(account.signup_at + ENTERS_AFTER)
    # Its own stream, so the conversions depend on nothing else drawn for the account.
    draw = _rng(seed, "cohort-conversion", i)
    converted = draw.random() < campaign.rate(arm)
    spread = timedelta(days=campaign.within_days) - DAY - CONVERTS_AFTER
    at = entered + CONVERTS_AFTER + timedelta(seconds=draw.randrange(int(spread.total_seconds())))
    return CohortMember(account, arm, entered, _next_cycle(account.signup_at + LEAVES_AFTER), at if converted else None)


def _next_cycle(moment: datetime) -> datetime:
    """The first evaluation at or after ``moment`` (on the CYCLE grid)."""
    step = CYCLE.total_seconds()
    since = (moment - datetime(2000, 1, 1, tzinfo=timezone.utc)).total_seconds()
    return moment + timedelta(seconds=-since % step)


def cohort_events(member: CohortMember, plan: DemoPlan) -> list[dict[str, Any]]:
    """Every event of one account of the planted campaign, oldest first, as ingest records.

    Stalled until its planted conversion (logins, dashboards, invites; never a project or a
    report), its first ``project_created`` exactly at ``converted_at``, a few more projects
    after that. One that did not convert never creates a project, and fades once its
    window has passed; every account still logs in in the last week before R."""
    account, ref = member.account, plan.reference
    rng = _rng(plan.seed, "cohort-events", account.index)
    clock = _Clock(rng, account.offset, account.signup_at, ref)
    contacts = [c["id"] for c in account.contacts]
    cum, total = [], 0.0
    for w in account.weights:
        total += w
        cum.append(total)
    base = total * account.activity
    converted = member.converted_at

    events: list[tuple[datetime, str, str, dict[str, Any] | None]] = []

    def add(moment: datetime, name: str, who: str | None = None) -> None:
        contact = who or rng.choices(contacts, cum_weights=cum)[0]
        events.append((moment, name, contact, _properties(rng, name)))

    add(account.signup_at + timedelta(minutes=rng.randint(2, 30)), "login", contacts[0])
    first_day = (account.signup_at.date() - ref.date()).days + 1
    campaign = plan.campaign
    window_end = member.entered_at + timedelta(days=campaign.within_days if campaign else 14)
    for day in range(first_day, 0):
        day_start = ref + timedelta(days=day)
        weekday = WEEKEND if day_start.weekday() >= 5 else 1.0
        # Stuck after the campaign's window too: it drifts away.
        fading = COHORT_FADING if converted is None and day_start >= window_end else 1.0
        for name, rate in RATES.items():
            factor = COHORT_FACTORS.get(name, 0.0) * fading
            if name == CAMPAIGN_GOAL and converted is not None and day_start > converted:
                factor = 3.0  # got going
            k = _poisson(rng, rate * base * weekday * factor)
            for contact in rng.choices(contacts, cum_weights=cum, k=k) if k else ():
                moment = clock.on(day_start)
                if name == CAMPAIGN_GOAL and moment <= converted:
                    continue  # the planted one stays the first
                events.append((moment, name, contact, _properties(rng, name)))
    if converted is not None:
        add(converted, CAMPAIGN_GOAL, contacts[0])
    if not any(e[1] == "login" and e[0] >= ref - timedelta(days=7) for e in events):
        add(clock.within(ref - timedelta(days=7), ref), "login")  # still around: not an inactive account
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    records = []
    for n, (moment, name, contact, props) in enumerate(events, 1):
        record: dict[str, Any] = {
            "id": f"{account.external_id}-s{plan.seed}-e{n:05d}",
            "account_id": account.external_id,
            "contact_id": contact,
            "name": name,
            "timestamp": _iso(moment),
        }
        if props:
            record["properties"] = props
        records.append(record)
    return records
