"""TOUCHLINE_TRACK_CLICKS and TOUCHLINE_TRACK_OPENS: click tracking on unless switched off, the open pixel for named categories only."""

import pytest

from engine.settings import SettingsError, load_settings


def test_clicks_are_tracked_and_no_category_has_the_pixel_by_default(monkeypatch):
    monkeypatch.delenv("TOUCHLINE_TRACK_CLICKS", raising=False)
    monkeypatch.delenv("TOUCHLINE_TRACK_OPENS", raising=False)
    settings = load_settings()
    assert settings.track_clicks is True and settings.track_opens == ()


@pytest.mark.parametrize("value, on", [("0", False), ("off", False), ("False", False), ("no", False),
                                       ("1", True), ("on", True), ("true", True), ("", True)])  # fmt: skip
def test_click_tracking_switches(monkeypatch, value, on):
    monkeypatch.setenv("TOUCHLINE_TRACK_CLICKS", value)
    assert load_settings().track_clicks is on


def test_a_click_switch_that_is_neither_is_refused(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_TRACK_CLICKS", "sometimes")
    with pytest.raises(SettingsError, match=r"TOUCHLINE_TRACK_CLICKS='sometimes': expected 1 \(on\) or 0 \(off\)"):
        load_settings()


def test_open_categories_are_a_list(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_TRACK_OPENS", " product-tips, renewals,,product-tips ")
    assert load_settings().track_opens == ("product-tips", "renewals")


@pytest.mark.parametrize("value, message", [
    ("product-tips,operational", "operational email .* never carries an open pixel"),
    ("Product Tips", "'Product Tips' is not a category"),
])  # fmt: skip
def test_operational_and_malformed_open_categories_are_refused(monkeypatch, value, message):
    monkeypatch.setenv("TOUCHLINE_TRACK_OPENS", value)
    with pytest.raises(SettingsError, match=message):
        load_settings()
