"""What every channel shares: the result of one send, the config check, the
context-manager shape the send job relies on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from engine.delivery.message import OutgoingMessage

if TYPE_CHECKING:
    from engine.settings import Settings

SendStatus = Literal["sent", "transient", "permanent"]


class Withdrawn(Exception):
    """The caller took the message back before any of it was handed over (its claim failed)."""


@dataclass(frozen=True)
class SendResult:
    """What became of one message.

    ``status``: ``sent``; ``transient`` (try again later: 4xx, timeouts,
    refused or dropped connections, 429/5xx); ``permanent`` (do not retry:
    5xx from a mail server, other 4xx from a webhook, an invalid address).
    ``provider_response`` is what the other side said, or why we refused.
    ``hard_bounce``: the mailbox does not exist (suppress the address).
    ``channel_down``: the failure is the channel's, not this message's
    (cannot connect, TLS or login failed, the server is closing); the rest of
    the batch would fail the same way, so the caller may stop and defer it.
    ``maybe_delivered``: the connection was lost after the whole message was
    handed over and before the server answered; it may have been accepted.
    ``unconfigured``: not tried, because the instance lacks a setting this
    message needs (a webhook URL, the secret a JSON webhook is signed with).
    ``content``: what was handed over, when it was (the MIME message given to the
    SMTP server, the webhook body, the nudge as stored); the send job keeps it
    with the delivery (engine.delivery.record).
    """

    status: SendStatus
    provider_response: str
    hard_bounce: bool = False
    channel_down: bool = False
    maybe_delivered: bool = False
    unconfigured: bool = False  # not tried: a setting this message needs is missing; it waits without using an attempt
    content: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in ("sent", "transient", "permanent"):
            raise ValueError(f"send status {self.status!r}: expected sent, transient or permanent")


class ChannelConfigError(ValueError):
    """A channel's config does not match its schema; the message names the
    field (and the TOUCHLINE_* variable it comes from, when it does)."""


def validate_config(channel: type[Channel], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` checked against ``channel.config_schema`` (JSON Schema 2020-12),
    with the schema's defaults filled in."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(channel.config_schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if errors:
        problems = []
        for err in errors:
            field = ".".join(str(p) for p in err.absolute_path)
            if not field and err.validator == "required":
                field = next((f for f in err.validator_value if f not in config), "")
            variable = channel.settings_variables.get(field.split(".")[0]) if field else None
            where = f"{field}: " if field else ""
            hint = f" (set {variable})" if variable else ""
            text = "required, missing" if err.validator == "required" and field else err.message
            problems.append(f"{where}{text}{hint}")
        raise ChannelConfigError(f"{channel.name} channel config: " + "; ".join(problems))
    filled = dict(config)
    for key, spec in channel.config_schema.get("properties", {}).items():
        if key not in filled and "default" in spec:
            filled[key] = spec["default"]
    return filled


class Channel(ABC):
    """One way of reaching people. Use as a context manager around a batch:

        with get_channel("email", config) as channel:
            for message in batch:
                result = channel.send(message)

    ``send`` never raises for a delivery problem: every outcome is a SendResult.
    """

    name: ClassVar[str]
    config_schema: ClassVar[dict[str, Any]]
    # config key -> the TOUCHLINE_* variable it is read from, for error messages.
    settings_variables: ClassVar[dict[str, str]] = {}
    # True: ``send(message, meanwhile=f)`` calls ``f()`` once while the provider works on
    # the message (after it was handed over, before the answer is read), so the caller's
    # next piece of work overlaps the wait. ``f`` must not raise.
    overlaps: ClassVar[bool] = False
    # True: ``send(message, claim=c)`` calls ``c()`` exactly once before any of the message's
    # content is handed over (the email channel: while the server answers MAIL FROM), so the
    # caller's write transaction overlaps that wait. ``c`` raising Withdrawn means "do not
    # send it": the channel undoes what it started and raises Withdrawn; anything else ``c``
    # raises is raised as it is. A result returned with ``c`` never called was not tried.
    claims_late: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = validate_config(type(self), config)

    @classmethod
    @abstractmethod
    def config_from_settings(cls, settings: Settings) -> dict[str, Any]:
        """This channel's config as the instance's settings define it."""

    def open(self) -> None:
        """Get ready for a batch (connections are made lazily, on first send)."""

    def close(self) -> None:
        """Release whatever the batch held; safe to call twice."""

    @abstractmethod
    def send(self, message: OutgoingMessage) -> SendResult: ...

    def prepare(self, message: OutgoingMessage) -> None:
        """Do now what sending ``message`` next would start with (the email channel builds its
        MIME), so that it can overlap the wait for the message before. Never raises: a
        problem is left for ``send`` to report."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
