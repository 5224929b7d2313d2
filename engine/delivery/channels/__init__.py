"""The channels a delivery goes out on, by the name rules use.

    from engine.delivery.channels import get_channel, config_from_settings

    with get_channel("email", config_from_settings("email", settings)) as channel:
        for message in batch:
            result = channel.send(message)   # SendResult, never raises for a delivery problem

Each channel class has ``name``, ``config_schema`` (JSON Schema) and
``config_from_settings(settings)``; see docs/channels.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.delivery.channels.base import (
    Channel,
    ChannelConfigError,
    SendResult,
    SendStatus,
    Withdrawn,
    validate_config,
)
from engine.delivery.channels.in_app import InAppChannel, store_nudge
from engine.delivery.channels.smtp import EmailChannel
from engine.delivery.channels.webhook import WebhookChannel

if TYPE_CHECKING:
    from engine.settings import Settings

CHANNELS: dict[str, type[Channel]] = {cls.name: cls for cls in (EmailChannel, InAppChannel, WebhookChannel)}


def _channel_class(name: str) -> type[Channel]:
    try:
        return CHANNELS[name]
    except KeyError:
        raise ChannelConfigError(f"unknown channel {name!r}: expected one of {', '.join(sorted(CHANNELS))}") from None


def get_channel(name: str, config: Mapping[str, Any]) -> Channel:
    """A channel of kind ``name`` with ``config`` checked against its schema
    (ChannelConfigError naming the field, and its TOUCHLINE_* variable, if not)."""
    return _channel_class(name)(dict(config))


def config_from_settings(name: str, settings: Settings) -> dict[str, Any]:
    """The config of channel ``name`` as the instance's settings define it."""
    return _channel_class(name).config_from_settings(settings)


__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelConfigError",
    "EmailChannel",
    "InAppChannel",
    "SendResult",
    "SendStatus",
    "WebhookChannel",
    "Withdrawn",
    "config_from_settings",
    "get_channel",
    "store_nudge",
    "validate_config",
]
