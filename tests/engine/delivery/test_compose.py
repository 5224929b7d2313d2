"""Composition: one template library per process, compiled before work-horses fork."""

from __future__ import annotations


def test_templates_are_compiled_once_per_process_and_warmed_before_forking():
    from engine.delivery.compose import shared_library, warm_templates
    from engine.settings import load_settings

    settings = load_settings()
    library = shared_library(settings.templates_dir)
    assert shared_library(settings.templates_dir) is library
    messages = sum(len(library.locales(name)) for name in library.names())
    files = library.files()
    assert any("_layouts" in p.parts for p in files) and any("_partials" in p.parts for p in files)
    # Every file, layouts and partials included: they are compiled on first use otherwise.
    assert messages >= 16 and warm_templates(settings) == len(files) > messages
