"""A realistic, deterministic demo dataset: accounts in every archetype rules care about."""

from engine.demo.generate import ARCHETYPES, EVENT_NAMES, KEY_FEATURES, build_plan, reference_time
from engine.demo.seed import DemoRefused, seed

__all__ = ["ARCHETYPES", "EVENT_NAMES", "KEY_FEATURES", "DemoRefused", "build_plan", "reference_time", "seed"]
