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


def test_a_composed_email_names_the_sender_from_the_settings(db, deliveries_with_one_lost):
    from dataclasses import replace

    from sqlalchemy import select

    from engine.delivery.compose import Composer
    from engine.models import Delivery, utcnow
    from engine.settings import Brand, load_settings

    deliveries_with_one_lost(2)
    kumo = Brand(name="Kumo Analytics", company="Kumo K.K.", postal_address="1-2-3 Shibuya, Tokyo 150-0002",
                 support_email="help@kumo.test", missing=())  # fmt: skip
    settings = replace(load_settings(), brand=kumo)
    with db.read_session() as session:
        row = session.scalars(select(Delivery).where(Delivery.status == "pending").order_by(Delivery.id)).first()
        message = Composer(session, settings, utcnow()).compose(row).message
    assert message is not None
    for part in (message.text, message.html):
        assert "Kumo Analytics" in part and "Kumo K.K." in part and "1-2-3 Shibuya, Tokyo 150-0002" in part
        assert "help@kumo.test" in part and "Touchline" not in part
