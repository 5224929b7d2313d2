"""Small template folders written per test."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

LAYOUT = """\
{% if part == "subject" %}
{% block subject %}{% endblock %}
{% elif part == "text" %}
{% block text %}{% endblock %}

--
{{ links.unsubscribe }}
{% else %}
<!doctype html>
<html lang="{{ locale }}"><head><style>p { color: #123456 } .big { font-size: 20px }</style></head>
<body><h1>{{ subject }}</h1>{% block html %}{% endblock %}<p class="big">{{ links.unsubscribe }}</p></body></html>
{% endif %}
"""


def message(subject: str, html: str, text: str, layout: str = "_layouts/base.html") -> str:
    return (
        f'{{% extends "{layout}" %}}\n'
        f"{{% block subject %}}{subject}{{% endblock %}}\n"
        f"{{% block html %}}{html}{{% endblock %}}\n"
        f"{{% block text %}}{text}{{% endblock %}}\n"
    )


def write(root: Path, files: dict[str, str]) -> Path:
    for name, body in {"_layouts/base.html": LAYOUT, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return root


def context(**overrides):
    from datetime import date, datetime

    from engine.templates.context import Record, Usage

    values = {
        "usage": Usage(date(2026, 3, 2), {"report_run": {date(2026, 3, 2): 4, date(2026, 2, 1): 9}}),
        "now": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        "timezone": "Asia/Tokyo",
        "account": Record("account", name="Acme & Co", external_id="acme", tier="tech", plan="pro", traits={"industry": "retail"}),
        "contact": Record("contact", name="Ann <Admin>", email="ann@acme.test", role="admin", traits={}),
        "links": {"app": "https://app.test/", "unsubscribe": "https://app.test/u/1", "preferences": "https://app.test/p/1"},
    }
    values.update(overrides)
    return values
