"""The data model, one module per aggregate; import from here."""

from engine.models.account import TIERS, TRACKED_FIELDS, Account, AccountChange
from engine.models.audit import AUDIT_OBJECT_TYPES, AuditEntry
from engine.models.auth import USER_ROLES, ApiKey, User
from engine.models.base import Base, utcnow
from engine.models.contact import ROLES, Contact
from engine.models.delivery import DELIVERY_STATUSES, Delivery
from engine.models.delivery_record import DeliveryEvent, DeliveryMessage
from engine.models.engagement import ENGAGEMENT_KINDS, DeliveryEngagement
from engine.models.inapp import InAppApp, InAppKey
from engine.models.nudge import NUDGE_EVENT_TYPES, Nudge, NudgeEvent
from engine.models.outcome import OUTCOME_ARMS, OUTCOME_STATES, GoalOutcome, OutcomeGoal, OutcomePass
from engine.models.result_flag import FLAG_KINDS, ResultFlag
from engine.models.ruleset import RuleState, RuleVersion, SegmentMembership
from engine.models.suppression import ALL_CATEGORIES, SUPPRESSION_REASONS, CategoryRejoin, Suppression
from engine.models.usage import DailyContactActivity, DailyUsage, Event

__all__ = [
    "AUDIT_OBJECT_TYPES",
    "AuditEntry",
    "TIERS",
    "TRACKED_FIELDS",
    "USER_ROLES",
    "ROLES",
    "DELIVERY_STATUSES",
    "ENGAGEMENT_KINDS",
    "ALL_CATEGORIES",
    "SUPPRESSION_REASONS",
    "CategoryRejoin",
    "Suppression",
    "Delivery",
    "DeliveryEngagement",
    "DeliveryEvent",
    "DeliveryMessage",
    "InAppApp",
    "InAppKey",
    "NUDGE_EVENT_TYPES",
    "Nudge",
    "NudgeEvent",
    "OUTCOME_ARMS",
    "OUTCOME_STATES",
    "GoalOutcome",
    "OutcomeGoal",
    "OutcomePass",
    "FLAG_KINDS",
    "ResultFlag",
    "RuleState",
    "RuleVersion",
    "SegmentMembership",
    "Account",
    "AccountChange",
    "ApiKey",
    "Base",
    "Contact",
    "DailyContactActivity",
    "DailyUsage",
    "Event",
    "User",
    "utcnow",
]
