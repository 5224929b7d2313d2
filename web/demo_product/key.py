"""The demo product's signing key, made on first use and kept in the instance folder.

A key's secret is returned once (engine.inapp.keys.create_key), so the demo keeps
``{"app_id", "kid", "secret"}`` in ``<instance>/demo-product-key.json`` (mode 0600, beside
the instance's own secret key), as a product's backend keeps its key in a secret store.
A file whose key is gone (a new database, a revoked key) is replaced by a new key.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from engine.inapp.keys import create_key, list_keys, normalise_origin, set_origins
from engine.settings import Settings

KEY_FILE = "demo-product-key.json"


@dataclass(frozen=True)
class DemoKey:
    app_id: str
    kid: str
    secret: str


def demo_key(session: Session, settings: Settings, *, actor: str) -> DemoKey:
    """The demo's key, still valid in this database, with the public URL among the app's origins;
    a new key (audited, as ``actor``) when there is none."""
    path = Path(settings.instance_dir) / KEY_FILE
    origin = normalise_origin(settings.public_url)
    stored = _read(path)
    app, keys = list_keys(session)
    if stored and app is not None and app.app_id == stored.app_id and any(k.kid == stored.kid and k.revoked_at is None for k in keys):
        if origin not in (app.origins or []):
            set_origins(session, actor=actor, add=[origin])
        return stored
    new = create_key(session, actor=actor, origins=[origin])
    key = DemoKey(new.app_id, new.kid, new.secret)
    _write(path, key)
    return key


def _read(path: Path) -> DemoKey | None:
    try:
        data = json.loads(path.read_text())
        return DemoKey(str(data["app_id"]), str(data["kid"]), str(data["secret"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or damaged: a new key replaces it


def _write(path: Path, key: DemoKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    # Readable by this user only, from its first byte; then moved into place whole.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(key), handle)
    os.replace(tmp, path)
