"""docker-compose.yml and the Dockerfile: no Docker engine runs here, so check
that the compose file parses and each service runs a real touchline command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import yaml

from engine.cli import cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
TOUCHLINE_SERVICES = sorted(n for n, s in SERVICES.items() if s.get("command", [""])[0] == "touchline")


def resolve(argv: list[str]) -> click.Context:
    """Parse argv against the real CLI without running it; raises on unknown commands/options."""
    ctx = cli.make_context("touchline", list(argv), resilient_parsing=False)
    group, args = cli, list(argv)
    while isinstance(group, click.Group):
        name, command, args = group.resolve_command(ctx, args)
        ctx = command.make_context(name, args, parent=ctx, resilient_parsing=False)
        group = command
    return ctx


def test_compose_has_the_production_shape():
    assert {"postgres", "redis", "web", "worker", "scheduler", "mailcatcher"} <= SERVICES.keys()
    assert SERVICES["postgres"]["image"].startswith("postgres:15")
    redis_cmd = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--maxmemory-policy noeviction" in redis_cmd
    assert SERVICES["scheduler"]["deploy"]["replicas"] == 1
    # Workers scale with --scale: no fixed name or host port that would clash.
    assert "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]


@pytest.mark.parametrize("service", TOUCHLINE_SERVICES)
def test_each_service_runs_a_real_touchline_command(service):
    argv = SERVICES[service]["command"][1:]
    ctx = resolve(argv)
    assert ctx.command.callback is not None, f"{service}: {argv} is a group, not a command"


def test_every_app_service_is_a_touchline_command():
    app_services = {"web", "worker", "scheduler", "mailcatcher", "migrate"}
    assert app_services <= set(TOUCHLINE_SERVICES)


def test_an_unknown_command_is_caught():
    with pytest.raises(click.UsageError):
        resolve(["no-such-command"])
    with pytest.raises(click.UsageError):
        resolve(["db", "upgrade", "--no-such-option"])


def test_dockerfile_installs_postgres_extra_and_copies_the_packages():
    text = (ROOT / "Dockerfile").read_text()
    assert 'pip install ".[postgres]"' in text
    for folder in ("engine", "web", "rules", "email_templates"):
        assert f"COPY {folder} ./{folder}" in text
        assert (ROOT / folder).is_dir(), folder


def test_volumes_mounted_into_the_image_belong_to_its_user():
    """A named volume takes the owner of the image's folder: it must exist, owned by the runtime user."""
    text = (ROOT / "Dockerfile").read_text()
    assert "USER touchline" in text
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            target = volume.split(":")[1]
            if target.startswith("/var/lib/touchline/"):
                assert f"-o touchline -g touchline {target}" in text, target
