from datetime import UTC, date, datetime

import pytest
from templatecases import context, message, write

from engine.templates import RenderError, TemplateLibrary


def text(tmp_path, expression, locale="en", **ctx):
    write(tmp_path, {f"m/{locale}.html": message("S", "<p>x</p>", expression)})
    return TemplateLibrary(tmp_path).render("m", [locale], context(**ctx)).text.split("\n")[0]


def test_date_follows_locale_and_recipient_timezone(tmp_path):
    # 2026-03-01 20:00 UTC is already March 2nd in Tokyo.
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert text(tmp_path, "{{ when|date }}", when=late) == "March 2, 2026"
    assert text(tmp_path, "{{ when|date }}", "ja", when=late) == "2026年3月2日"
    assert text(tmp_path, "{{ when|date('short') }}", when=late) == "2026-03-02"
    assert text(tmp_path, "{{ when|date('short') }}", "ja", when=late) == "2026/03/02"
    assert text(tmp_path, "{{ when|date('datetime') }}", when=late) == "March 2, 2026, 05:00"
    assert text(tmp_path, "{{ when|date('datetime') }}", "ja", when=late) == "2026年3月2日 5:00"
    assert text(tmp_path, "{{ when|date }}", when=late, timezone="America/New_York") == "March 1, 2026"
    assert text(tmp_path, "{{ when|date }}", when=date(2026, 12, 25)) == "December 25, 2026"


def test_date_refuses_what_is_not_a_date(tmp_path):
    with pytest.raises(RenderError, match="date filter needs a date"):
        text(tmp_path, "{{ 'soon'|date }}")
    with pytest.raises(RenderError, match="date style 'fancy'"):
        text(tmp_path, "{{ now|date('fancy') }}")


def test_number(tmp_path):
    assert text(tmp_path, "{{ 1234567|number }} {{ 1234.5|number(2) }}") == "1,234,567 1,234.50"
    with pytest.raises(RenderError, match="number filter needs a number"):
        text(tmp_path, "{{ 'x'|number }}")


def test_usage_counts_from_the_context(tmp_path):
    # The helper's usage: 4 report runs today (2026-03-02), 9 on 2026-02-01, the 30th day back.
    assert text(tmp_path, "{{ usage.count('report_run', 1) }} {{ usage.count('report_run', 29) }} {{ usage.count('report_run', 30) }}") == "4 4 13"
    assert text(tmp_path, "{{ usage.active_days('report_run', 90) }} {{ usage.count('login', 30) }}") == "2 0"
    with pytest.raises(RenderError, match="usage window 0"):
        text(tmp_path, "{{ usage.count('login', 0) }}")
