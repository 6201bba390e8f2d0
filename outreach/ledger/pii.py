"""Personal data at rest: phones and emails are stored encrypted, with a keyed hash beside them.

The ledger never holds a phone number or an email address in plain text. Each value is
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) and, for lookups such
as "which contact sent this inbound text?", a keyed hash (HMAC-SHA256) of its normalised form
is stored beside it. The hash is deterministic, so it can be indexed and compared; the
ciphertext is not, so it is only ever decrypted for a send or a display.

Keys come from the environment:

- `WHOLESALER_PII_KEYS`: one or more Fernet keys, comma-separated, newest first. The first
  encrypts; all of them decrypt, so a key is rotated by putting a new key in front and running
  `wholesaler ledger rotate-keys`, then dropping the old key.
- `WHOLESALER_PII_HASH_KEY`: the secret of the lookup hash (any string of 32+ characters).
  Keep it stable: changing it would orphan every stored hash, and do-not-call numbers are
  stored only as hashes, so the lists would have to be loaded again. No command re-hashes
  yet (docs/operations.md says what to do if this key is exposed).

When neither is set (the embedded demo), keys are generated once into
`<data>/secrets/pii_keys.json` (mode 0600) and a warning says production must set them.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pipelines import settings

log = logging.getLogger(__name__)

KEYS_ENV = "WHOLESALER_PII_KEYS"
HASH_KEY_ENV = "WHOLESALER_PII_HASH_KEY"
_MIN_HASH_KEY_LENGTH = 32


class PiiKeyError(RuntimeError):
    """The PII keys are missing, malformed, or cannot decrypt a stored value."""


@dataclass(frozen=True)
class PiiKeyring:
    """The Fernet keys (newest first) and the lookup-hash key in use."""

    fernet_keys: tuple[str, ...]
    hash_key: str
    origin: str

    def __post_init__(self) -> None:
        if not self.fernet_keys:
            raise PiiKeyError(f"{KEYS_ENV}: at least one Fernet key is needed")
        for position, key in enumerate(self.fernet_keys, start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError) as error:
                raise PiiKeyError(
                    f"{KEYS_ENV}: key {position} is not a Fernet key (32 url-safe base64 "
                    f"bytes; make one with `wholesaler ledger new-key`): {error}") from error
        if len(self.hash_key) < _MIN_HASH_KEY_LENGTH:
            raise PiiKeyError(f"{HASH_KEY_ENV}: needs at least {_MIN_HASH_KEY_LENGTH} characters")

    @cached_property
    def _cipher(self) -> MultiFernet:
        """Built once per keyring (a send run decrypts a contact per message)."""
        return MultiFernet([Fernet(key) for key in self.fernet_keys])

    def encrypt(self, value: str) -> str:
        """Ciphertext (a url-safe base64 token) of `value` under the newest key."""
        return self._cipher.encrypt(value.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._cipher.decrypt(token.encode("ascii")).decode()
        except InvalidToken as error:
            raise PiiKeyError(
                f"a stored value cannot be decrypted with the keys from {self.origin}; "
                f"was a key removed from {KEYS_ENV} before `ledger rotate-keys` ran?") from error

    def rotate(self, token: str) -> str:
        """The same value re-encrypted under the newest key."""
        return self._cipher.rotate(token.encode("ascii")).decode("ascii")

    def lookup_hash(self, kind: str, normalised_value: str) -> str:
        """Keyed hash (hex) of a normalised value: E.164 for phones, the normalised address
        for emails. `kind` keeps a phone and an email with equal text apart."""
        message = f"{kind}:{normalised_value}".encode()
        return hmac.digest(self.hash_key.encode(), message, "sha256").hex()


def new_fernet_key() -> str:
    return Fernet.generate_key().decode("ascii")


def _local_keys_file() -> Path:
    return settings.secrets_dir() / "pii_keys.json"


def _load_or_create_local_keys(path: Path) -> PiiKeyring:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = {"fernet_keys": [new_fernet_key()], "hash_key": Fernet.generate_key().decode()}
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(keys, handle)
        log.warning("generated local PII keys in %s; production must set %s and %s",
                    path, KEYS_ENV, HASH_KEY_ENV)
    keys = json.loads(path.read_text())
    return PiiKeyring(tuple(keys["fernet_keys"]), keys["hash_key"], origin=str(path))


def keyring_from_environment() -> PiiKeyring:
    """The keyring named by the environment, else the local (demo) keys file."""
    fernet_keys = os.environ.get(KEYS_ENV, "").strip()
    hash_key = os.environ.get(HASH_KEY_ENV, "").strip()
    if fernet_keys or hash_key:
        if not (fernet_keys and hash_key):
            missing = KEYS_ENV if not fernet_keys else HASH_KEY_ENV
            raise PiiKeyError(f"{missing} is not set (set both {KEYS_ENV} and {HASH_KEY_ENV})")
        keys = tuple(key.strip() for key in fernet_keys.split(",") if key.strip())
        return PiiKeyring(keys, hash_key, origin="the environment")
    return _load_or_create_local_keys(_local_keys_file())


_lock = threading.Lock()
_keyrings: dict[tuple[str, str, str], PiiKeyring] = {}


def current_keyring() -> PiiKeyring:
    """The keyring the environment names now (cached per environment and keys file, so a
    process that switches data folders, as tests do, never mixes keys)."""
    identity = (os.environ.get(KEYS_ENV, ""), os.environ.get(HASH_KEY_ENV, ""),
                str(_local_keys_file()))
    with _lock:
        keyring = _keyrings.get(identity)
        if keyring is None:
            keyring = _keyrings[identity] = keyring_from_environment()
        return keyring


def reset_keyring() -> None:
    """Forget the cached keyrings so the next use re-reads the environment and key files."""
    with _lock:
        _keyrings.clear()


def mask_phone(e164: str) -> str:
    """What a viewer without the PII role sees: the last four digits only."""
    return f"•••-•••-{e164[-4:]}" if len(e164) >= 4 else "•••"


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"
