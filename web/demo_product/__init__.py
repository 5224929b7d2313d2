"""The demo product: a fictional product's page that embeds the in-app snippet as a customer
would, showing the demo data's nudges (docs/inapp.md, "The demo product").

Registered only when TOUCHLINE_DEMO_PRODUCT is on (``touchline up`` turns it on with its demo
data): its token endpoint mints identity tokens for any contact, which a real installation
must not offer.
"""

from __future__ import annotations

from flask import Flask

from web.context import SETTINGS_KEY
from web.demo_product.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    if not app.extensions[SETTINGS_KEY].demo_product:
        return
    app.register_blueprint(bp)
    # The dashboard links to the page only where it exists.
    app.context_processor(lambda: {"demo_product_enabled": True})
