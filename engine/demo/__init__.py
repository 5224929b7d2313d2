"""A realistic, deterministic demo dataset: accounts in every archetype rules care about,
and on request a past campaign with a known effect (engine.demo.campaign records it)."""

from engine.demo.generate import ARCHETYPES, EVENT_NAMES, KEY_FEATURES, CampaignPlan, build_plan, reference_time
from engine.demo.seed import DemoRefused, seed

__all__ = [
    "ARCHETYPES", "EVENT_NAMES", "KEY_FEATURES", "CampaignPlan", "DemoRefused", "build_plan", "reference_time", "seed",
]  # fmt: skip
