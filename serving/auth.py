"""API keys with scopes, stored as SHA-256 hashes in a YAML file that is re-read when it changes, so keys
rotate without a restart (`mlops api-key create|revoke|list` edits it).

A key is sent as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Scopes: `predict` (predictions,
forecasts, model info, feedback, task status) and `admin` (uploads, retraining; includes `predict`)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from serving.problems import Problem

Scope = Literal["predict", "admin"]
IMPLIED: dict[str, set[str]] = {"admin": {"admin", "predict"}, "predict": {"predict"}}
HEADER = "X-API-Key"


class KeyEntry(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[Scope]


class KeyFile(BaseModel):
    keys: list[KeyEntry] = Field(default_factory=list)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "mlops_" + secrets.token_urlsafe(32)


def read_keys(path: Path) -> KeyFile:
    if not path.exists():
        return KeyFile()
    try:
        return KeyFile.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path}: not a valid API key file: {exc}") from exc


def write_keys(path: Path, keys: KeyFile) -> None:
    """Atomically (rename), so a running service never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    header = "# API keys as SHA-256 hashes (never the keys); edit with `mlops api-key`. Re-read on change.\n"
    tmp.write_text(header + yaml.safe_dump(keys.model_dump(), sort_keys=False))
    tmp.chmod(0o600)
    os.replace(tmp, path)


def add_key(path: Path, name: str, scopes: list[str], key: str | None = None) -> tuple[str, bool]:
    """Store `key` (a new random one if None) as `name` with `scopes`, replacing a key of that name.
    Returns the key and whether one was replaced; a ValueError names an invalid name or scope."""
    keys = read_keys(path)
    others = [e for e in keys.keys if e.name != name]
    key = key or new_key()
    entry = KeyEntry(name=name, sha256=hash_key(key), scopes=scopes)
    write_keys(path, KeyFile(keys=[*others, entry]))
    return key, len(others) < len(keys.keys)


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str]


class KeyRing:
    """The keys in force; checks the file's modification time at most once a second."""

    def __init__(self, path: Path, check_every: float = 1.0) -> None:
        self.path = path
        self.check_every = check_every
        self._lock = threading.Lock()
        self._entries: list[KeyEntry] = []
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self.error: str | None = None
        self._reload()

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and self._checked:
            return
        try:
            self._entries = read_keys(self.path).keys
            self.error = None
        except ValueError as exc:  # keep the last good keys; /readyz names the problem
            self.error = str(exc)
        self._stamp = stamp

    def current(self) -> list[KeyEntry]:
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            with self._lock:
                self._reload()
                self._checked = now
        return self._entries

    def identify(self, key: str) -> Caller | None:
        """The caller a key belongs to; compares every stored hash in constant time."""
        digest = hash_key(key)
        found: KeyEntry | None = None
        for entry in self.current():
            if hmac.compare_digest(digest, entry.sha256):
                found = entry
        if found is None:
            return None
        return Caller(found.name, frozenset(s for scope in found.scopes for s in IMPLIED[scope]))


_api_key = APIKeyHeader(name=HEADER, auto_error=False, description="An API key; or `Authorization: Bearer`.")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")


def require(scope: Scope):
    """A dependency that lets a request through only with a key holding `scope`."""

    async def check(  # async: it never blocks, and a thread hop per request costs more than it does
        request: Request,
        header: Annotated[str | None, Security(_api_key)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Caller:
        key = header or (bearer.credentials if bearer else None)
        challenge = {"WWW-Authenticate": 'Bearer realm="mlops"'}
        if not key:
            raise Problem(
                401, f"send an API key in the {HEADER} header or as a bearer token", headers=challenge
            )
        caller = request.app.state.platform.keys.identify(key)
        if caller is None:
            raise Problem(401, "the API key is not valid (unknown or revoked)", headers=challenge)
        if scope not in caller.scopes:
            raise Problem(403, f"the key '{caller.name}' lacks the '{scope}' scope this route needs")
        return caller

    return Depends(check)
