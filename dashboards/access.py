"""Who may open the dashboards, and with which role.

Two ways to configure sign-in:

- **Users file** (recommended; roles): a YAML file named by `WHOLESALER_DASHBOARD_USERS`, or
  `data/secrets/dashboard_users.yaml` when that exists. Each user has a role and a scrypt
  hash of the password (never the password):

      users:
        pat:
          role: closer            # viewer | closer | admin
          password_hash: scrypt$16384$8$1$<salt>$<hash>

  Make or change an entry with `python -m dashboards.access add-user pat --role closer`
  (asks for the password; writes the file with mode 0600). The file is validated by pydantic;
  an error names the file and the field.
- **One shared password** (the embedded demo): `WHOLESALER_DASHBOARD_PASSWORD`, else one
  generated into `data/secrets/dashboard_password` (which `wholesaler dashboard` prints).
  Whoever knows it signs in as a `viewer`. When a users file exists, the shared password is
  not accepted.

Roles: a `viewer` sees every page with contacts as hints only and free text redacted
(dashboards/masking.py); a `closer` also sees message bodies as written and, on the Handoffs
page, one owner's full phone and email (decrypted from the ledger) and may claim the handoff;
an `admin` may do what a closer may. Passwords are checked in constant time (scrypt, then
`hmac.compare_digest`); the sign-in is remembered for the browser session only.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import streamlit as st
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines import settings

PASSWORD_ENV = "WHOLESALER_DASHBOARD_PASSWORD"
USERS_ENV = "WHOLESALER_DASHBOARD_USERS"

Role = Literal["viewer", "closer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "closer", "admin")
CONTACT_ROLES: frozenset[str] = frozenset({"closer", "admin"})

# scrypt cost: n=2**14, r=8, p=1 uses 16 MiB and ~50 ms per check (RFC 7914's interactive
# figure); stored in each hash so it can be raised later without invalidating old entries.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_HASH_PREFIX = "scrypt"


class DashboardConfigError(RuntimeError):
    """The dashboards' sign-in configuration is missing or invalid (names file and field)."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$<salt b64>$<hash b64>` of `password`."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    encode = base64.urlsafe_b64encode
    return (f"{_HASH_PREFIX}${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}$"
            f"{encode(salt).decode()}${encode(digest).decode()}")


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _HASH_PREFIX:
        raise ValueError("expected scrypt$n$r$p$salt$hash (make one with "
                         "`python -m dashboards.access add-user`)")
    n, r, p = (int(part) for part in parts[1:4])
    if n < 2**12 or n & (n - 1) or not (1 <= r <= 64) or not (1 <= p <= 16):
        raise ValueError("scrypt parameters out of range (n a power of two >= 4096)")
    salt, digest = (base64.urlsafe_b64decode(part.encode()) for part in parts[4:6])
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = _parse_hash(stored)
    given = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                           maxmem=256 * n * r * p)
    return hmac.compare_digest(given, digest)


class DashboardUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    password_hash: str

    @field_validator("password_hash")
    @classmethod
    def _valid_hash(cls, value: str) -> str:
        _parse_hash(value)
        return value


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[str, DashboardUser] = Field(min_length=1)

    @field_validator("users")
    @classmethod
    def _valid_names(cls, value: dict[str, DashboardUser]) -> dict[str, DashboardUser]:
        for name in value:
            if not name.strip() or len(name) > 80:
                raise ValueError(f"user name {name!r} must be 1-80 characters")
        return value


def users_file_path() -> Path | None:
    """The users file in use, or None (shared-password mode)."""
    named = os.environ.get(USERS_ENV, "").strip()
    if named:
        path = Path(named)
        if not path.exists():
            raise DashboardConfigError(f"{USERS_ENV}: {path} does not exist")
        return path
    default = settings.secrets_dir() / "dashboard_users.yaml"
    return default if default.exists() else None


def load_users(path: Path) -> UsersFile:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise DashboardConfigError(f"{path}: not valid YAML: {error}") from error
    try:
        return UsersFile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: "
            f"{problem['msg']}" for problem in error.errors())
        raise DashboardConfigError(f"{path}: {problems}") from error


def configured_password() -> str:
    value = os.environ.get(PASSWORD_ENV, "").strip()
    if value:
        return value
    path = settings.secrets_dir() / "dashboard_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(12))
    return path.read_text().strip()


@dataclass(frozen=True)
class SignedIn:
    user: str
    role: Role


# Checked against when the user name is unknown, so a wrong name costs as long as a wrong
# password and does not tell which names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def authenticate(user: str, password: str) -> SignedIn | None:
    """Who `user` with `password` signs in as, or None."""
    path = users_file_path()
    if path is None:
        if hmac.compare_digest(password.encode(), configured_password().encode()):
            return SignedIn("viewer", "viewer")
        return None
    users = load_users(path).users
    entry = users.get(user.strip())
    matches = verify_password(password, entry.password_hash if entry else _DUMMY_HASH)
    return SignedIn(user.strip(), entry.role) if entry and matches else None


def current_role() -> Role:
    """The signed-in role; `viewer` (the least) when none is recorded."""
    role = st.session_state.get("role", "viewer")
    return role if role in ROLES else "viewer"


def current_user() -> str:
    return str(st.session_state.get("user", "viewer"))


def may_see_contacts(role: str | None = None) -> bool:
    return (role or current_role()) in CONTACT_ROLES


def require_password() -> bool:
    """Show the sign-in form until the right credentials are given; True once signed in."""
    if st.session_state.get("signed_in"):
        return True
    st.title("wholesaler")
    try:
        with_users = users_file_path() is not None
    except DashboardConfigError as error:
        st.error(f"Sign-in is misconfigured: {error}")
        return False
    with st.form("sign_in"):
        user = st.text_input("User") if with_users else ""
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            signed_in = authenticate(user, given)
        except DashboardConfigError as error:
            st.error(f"Sign-in is misconfigured: {error}")
            return False
        if signed_in is not None:
            st.session_state.update(signed_in=True, user=signed_in.user, role=signed_in.role)
            st.rerun()
        st.error("Wrong user or password." if with_users else "Wrong password.")
    return False


def sign_out() -> None:
    for key in ("signed_in", "user", "role"):
        st.session_state.pop(key, None)


def add_user(path: Path, name: str, role: Role, password: str) -> None:
    """Add or replace `name` in the users file at `path` (created with mode 0600)."""
    users = load_users(path).users if path.exists() else {}
    users[name] = DashboardUser(role=role, password_hash=hash_password(password))
    text = yaml.safe_dump({"users": {key: value.model_dump() for key, value in users.items()}},
                          sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.access",
                                     description="Manage the dashboards' users file.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-user", help="add or replace a user (asks for a password)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="viewer")
    add.add_argument("--file", type=Path, default=None,
                     help=f"users file (default: ${USERS_ENV} or data/secrets/"
                          "dashboard_users.yaml)")
    arguments = parser.parse_args(argv)
    path = arguments.file or (Path(os.environ[USERS_ENV]) if os.environ.get(USERS_ENV)
                              else settings.secrets_dir() / "dashboard_users.yaml")
    password = getpass.getpass(f"Password for {arguments.name}: ")
    if len(password) < 12 or password != getpass.getpass("Again: "):
        print("error: passwords differ or are shorter than 12 characters", file=sys.stderr)
        return 1
    try:
        add_user(path, arguments.name, arguments.role, password)
    except DashboardConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{arguments.name} ({arguments.role}) written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
