"""Composition: one template library per process, compiled before work-horses fork."""

from __future__ import annotations


def test_templates_are_compiled_once_per_process_and_warmed_before_forking():
    from engine.delivery.compose import shared_library, warm_templates
    from engine.settings import load_settings

    settings = load_settings()
    library = shared_library(settings.templates_dir)
    assert shared_library(settings.templates_dir) is library
    expected = sum(len(library.locales(name)) for name in library.names())
    assert expected >= 16 and warm_templates(settings) == expected
