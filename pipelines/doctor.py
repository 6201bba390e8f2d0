"""`wholesaler doctor`: check configuration and connectivity before a run needs them.

Every check reads or connects, and none sends anything: Twilio is asked for the account
(a GET), SMTP goes as far as EHLO, STARTTLS and AUTH and then QUITs without MAIL, RCPT or
DATA; the warehouse is opened read-only; the ledger is only read; the PII keys are tried on a
stored value. Each check answers pass, warn or fail with a detail and, when it is not a pass,
the fix. `run_checks()` never raises: an unexpected error becomes a fail of its check.

Thresholds come from `DoctorOptions` (environment: `WHOLESALER_DOCTOR_DISK_WARN_GB`,
`WHOLESALER_DOCTOR_DISK_FAIL_GB`, `WHOLESALER_DOCTOR_TIMEOUT_SECONDS`; CLI options override).
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from markets.loader import market_files, markets_dir, validate_files
from markets.schema import Market
from outreach.ledger.pii import PiiKeyring
from pipelines import settings

Status = Literal["pass", "warn", "fail"]
OLLAMA_URL_ENV = "WHOLESALER_OLLAMA_URL"
OLLAMA_MODEL_ENV = "WHOLESALER_OLLAMA_MODEL"
SENTIMENT_MODEL_DIR_ENV = "WHOLESALER_SENTIMENT_MODEL_DIR"
_GB = 1024**3


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report."""

    check: str
    status: Status
    detail: str
    fix: str = ""


class DoctorOptionsError(ValueError):
    """A doctor threshold in the environment is not a number, or the thresholds disagree."""


class DoctorOptions(BaseModel):
    """Thresholds and limits of the checks."""

    disk_warn_gb: float = Field(default=10.0, gt=0)
    disk_fail_gb: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    today: date = Field(default_factory=date.today)

    @model_validator(mode="after")
    def _fail_below_warn(self) -> DoctorOptions:
        if self.disk_fail_gb > self.disk_warn_gb:
            raise ValueError("disk_fail_gb must not exceed disk_warn_gb")
        return self

    @classmethod
    def from_environment(cls, **overrides: float | None) -> DoctorOptions:
        """Options from `WHOLESALER_DOCTOR_*` variables, then the non-None `overrides`."""
        names = {"disk_warn_gb": "WHOLESALER_DOCTOR_DISK_WARN_GB",
                 "disk_fail_gb": "WHOLESALER_DOCTOR_DISK_FAIL_GB",
                 "timeout_seconds": "WHOLESALER_DOCTOR_TIMEOUT_SECONDS"}
        values: dict[str, object] = {key: os.environ[env] for key, env in names.items()
                                     if os.environ.get(env)}
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = []
            for item in error.errors():
                key = str(item["loc"][0]) if item["loc"] else "(options)"
                problems.append(f"{names.get(key, key)}: {item['msg']}")
            raise DoctorOptionsError("; ".join(problems)) from error


@dataclass
class _LedgerState:
    """What the ledger check learnt, for the checks that read the ledger after it."""

    engine: Engine | None = None
    usable: bool = False
    reason: str = ""


@dataclass
class Doctor:
    """Runs the checks in order; later checks reuse what earlier ones found (the markets,
    the ledger engine, the PII keyring)."""

    options: DoctorOptions = field(default_factory=DoctorOptions)
    markets: list[Market] = field(default_factory=list)
    ledger: _LedgerState = field(default_factory=_LedgerState)
    keyring: PiiKeyring | None = None

    @cached_property
    def any_live_market(self) -> bool:
        return any(market.live for market in self.markets)

    def checks(self) -> list[tuple[str, Callable[[], CheckResult]]]:
        return [
            ("markets", self.check_markets),
            ("warehouse", self.check_warehouse),
            ("ledger", self.check_ledger),
            ("pii_keys", self.check_pii_keys),
            ("dnc_registry", self.check_dnc_registry),
            ("twilio", self.check_twilio),
            ("smtp", self.check_smtp),
            ("llm", self.check_llm),
            ("sentiment_model", self.check_sentiment_model),
            ("disk", self.check_disk),
        ]

    def run(self) -> list[CheckResult]:
        results = []
        for name, check in self.checks():
            try:
                results.append(check())
            except Exception as error:  # a doctor reports, it never crashes on one check
                results.append(CheckResult(name, "fail", f"the check itself failed: "
                                           f"{type(error).__name__}: {error}",
                                           "report this; the other checks still ran"))
        return results

    # --- markets -------------------------------------------------------------------------

    def check_markets(self) -> CheckResult:
        files = market_files()
        if not files:
            return CheckResult("markets", "fail", f"no market files in {markets_dir()}",
                               "write markets/<code>.yaml (copy one of the shipped files) or "
                               "point WHOLESALER_MARKETS_DIR at the folder")
        markets, problems = validate_files(files)
        self.markets = sorted(markets, key=lambda market: market.code)
        if problems:
            shown = "; ".join(str(problem) for problem in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            return CheckResult("markets", "fail",
                               f"{len(problems)} problem(s) in {len(files)} file(s): {shown}{more}",
                               "fix each named field; `wholesaler markets validate` lists them")
        live = [market.code for market in self.markets if market.live]
        return CheckResult("markets", "pass",
                           f"{len(self.markets)} market(s): "
                           f"{', '.join(market.code for market in self.markets)}"
                           + (f"; live: {', '.join(live)}" if live else "; none live"))

    # --- warehouse -----------------------------------------------------------------------

    def check_warehouse(self) -> CheckResult:
        import duckdb

        path = settings.warehouse_path()
        if not path.exists():
            return CheckResult("warehouse", "warn", f"no warehouse file yet at {path}",
                               "materialize a market (`wholesaler demo` or the Dagster UI); "
                               "or set WHOLESALER_WAREHOUSE_PATH to the existing file")
        try:
            connection = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                return CheckResult("warehouse", "warn",
                                   f"{path} is locked by a writer, so it could not be opened "
                                   f"read-only: {error}",
                                   "normal while a Dagster run writes; if no run is going, "
                                   "stop the process named above")
            return CheckResult("warehouse", "fail", f"cannot open {path}: {error}",
                               "check the file's permissions and the disk")
        except duckdb.Error as error:
            return CheckResult("warehouse", "fail", f"cannot open {path}: {error}",
                               "restore the warehouse from a backup, or remove it and "
                               "re-materialize the markets")
        try:
            tables = connection.execute(
                "select count(*) from information_schema.tables").fetchone()
        finally:
            connection.close()
        return CheckResult("warehouse", "pass",
                           f"{path} opens read-only ({tables[0] if tables else 0} tables/views)")

    # --- ledger --------------------------------------------------------------------------

    def check_ledger(self) -> CheckResult:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        from outreach.ledger.db import head_revision, ledger_engine, ledger_revision

        url = settings.ledger_url()
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "",
                                                                                 ":memory:"):
            database = Path(parsed.database or "")
            if not database.exists():
                self.ledger.reason = f"no ledger file at {database}"
                return CheckResult("ledger", "fail", self.ledger.reason,
                                   "create it: `wholesaler ledger upgrade` (or set "
                                   "WHOLESALER_LEDGER_URL to the production database)")
        engine = ledger_engine(url)
        try:
            revision = ledger_revision(engine)
        except SQLAlchemyError as error:
            self.ledger.reason = f"cannot connect to {shown}"
            return CheckResult("ledger", "fail", f"{self.ledger.reason}: "
                               f"{str(error).splitlines()[0]}",
                               "check WHOLESALER_LEDGER_URL, the server and its credentials")
        head = head_revision()
        self.ledger.engine = engine
        if revision is None:
            self.ledger.reason = "the ledger was never migrated"
            return CheckResult("ledger", "fail", f"{shown}: never migrated (head is {head})",
                               "run `wholesaler ledger upgrade`")
        if revision != head:
            self.ledger.reason = f"the ledger is at revision {revision}, not {head}"
            return CheckResult("ledger", "fail",
                               f"{shown}: at revision {revision}, this code expects {head}",
                               "run `wholesaler ledger upgrade` (back it up first); if the "
                               "database is newer than the code, deploy the newer code")
        self.ledger.usable = True
        return CheckResult("ledger", "pass", f"{shown}: at head revision {head}")

    # --- PII keys ------------------------------------------------------------------------

    def check_pii_keys(self) -> CheckResult:
        from outreach.ledger import pii

        from_environment = bool(os.environ.get(pii.KEYS_ENV, "").strip()
                                or os.environ.get(pii.HASH_KEY_ENV, "").strip())
        local_file = settings.secrets_dir() / "pii_keys.json"
        if not from_environment and not local_file.exists():
            status: Status = "fail" if self.any_live_market else "warn"
            return CheckResult("pii_keys", status,
                               f"{pii.KEYS_ENV} and {pii.HASH_KEY_ENV} are not set and there "
                               f"is no local keys file ({local_file}) yet",
                               f"set {pii.KEYS_ENV} (`wholesaler ledger new-key`) and "
                               f"{pii.HASH_KEY_ENV} (32+ random characters)")
        try:
            keyring = pii.keyring_from_environment()
        except (pii.PiiKeyError, ValueError, KeyError) as error:
            return CheckResult("pii_keys", "fail", f"the keys are malformed: {error}",
                               f"set {pii.KEYS_ENV} to Fernet keys from `wholesaler ledger "
                               f"new-key` (newest first) and {pii.HASH_KEY_ENV} to the "
                               "lookup-hash secret the ledger was written with")
        self.keyring = keyring
        problem = self._stored_value_problem(keyring)
        if problem:
            return CheckResult("pii_keys", "fail", problem,
                               f"put the key the ledger was written with back into "
                               f"{pii.KEYS_ENV} (after the new one) and run `wholesaler ledger "
                               "rotate-keys`; the hash key must be the one used for the rows")
        checked = ("; decrypts stored values" if self.ledger.usable
                   else f"; stored values not tried ({self.ledger.reason or 'no ledger'})")
        if from_environment:
            return CheckResult("pii_keys", "pass", f"{len(keyring.fernet_keys)} key(s) from "
                               f"the environment{checked}")
        status = "fail" if self.any_live_market else "warn"
        return CheckResult("pii_keys", status,
                           f"the demo's local keys file {local_file} is in use{checked}",
                           f"production sets {pii.KEYS_ENV} and {pii.HASH_KEY_ENV} (copy the "
                           "values from that file into the secret store, then delete it)")

    def _stored_value_problem(self, keyring: PiiKeyring) -> str | None:
        """Decrypt the oldest and the newest stored contact and recompute its lookup hash;
        a message when either fails."""
        from sqlalchemy import text

        from outreach.ledger.pii import PiiKeyError

        if self.ledger.engine is None or not self.ledger.usable:
            return None
        query = ("SELECT contact_id, channel, value, value_hash FROM contacts "
                 "WHERE contact_id IN ((SELECT min(contact_id) FROM contacts), "
                 "(SELECT max(contact_id) FROM contacts))")
        with self.ledger.engine.connect() as connection:
            rows = connection.execute(text(query)).all()
        for contact_id, channel, token, value_hash in rows:
            try:
                value = keyring.decrypt(token)
            except PiiKeyError:
                return (f"contact {contact_id} cannot be decrypted with the keys from "
                        f"{keyring.origin}")
            if keyring.lookup_hash(channel, value) != value_hash:
                return (f"contact {contact_id}'s lookup hash does not match: the hash key "
                        f"from {keyring.origin} is not the one the ledger was written with")
        return None

    # --- do-not-call registry ------------------------------------------------------------

    def check_dnc_registry(self) -> CheckResult:
        from sqlalchemy import func, select

        from outreach.ledger.db import ledger_session
        from outreach.ledger.dnc_store import (
            REGISTRY_MAX_AGE_DAYS,
            registry_downloaded_on,
            registry_is_stale,
        )
        from outreach.ledger.models import DncList

        if self.ledger.engine is None or not self.ledger.usable:
            return CheckResult("dnc_registry", "warn",
                               f"not checked: {self.ledger.reason or 'ledger not usable'}",
                               "fix the ledger check first")
        today = self.options.today
        with ledger_session(self.ledger.engine) as session:
            national_lists = session.scalar(
                select(func.count()).select_from(DncList).where(DncList.kind == "national"))
            if not national_lists:
                return CheckResult("dnc_registry", "warn",
                                   "no national do-not-call registry copy loaded: every "
                                   "number is SMS-blocked until one is",
                                   "download the FTC registry for your area codes and "
                                   "`wholesaler dnc load FILE … --kind ftc_national`")
            stale: list[str] = []
            missing: list[str] = []
            fresh: dict[str, date] = {}
            for market in self.markets:
                area_codes = self._market_area_codes(session, market.code)
                for area_code in area_codes or [None]:
                    downloaded_on = registry_downloaded_on(session, area_code)
                    label = f"{market.code} area code {area_code}" if area_code \
                        else f"{market.code} (no phones yet; freshest copy)"
                    if downloaded_on is None:
                        missing.append(label)
                    elif registry_is_stale(downloaded_on, today):
                        stale.append(f"{label}: copy of {downloaded_on} is "
                                     f"{(today - downloaded_on).days} days old")
                    else:
                        fresh[area_code or "all"] = downloaded_on
        fix = ("download a fresh copy of the registry for those area codes and `wholesaler dnc "
               "load FILE … --kind ftc_national`; SMS to their numbers is blocked until then")
        if stale:
            return CheckResult("dnc_registry", "fail",
                               f"older than {REGISTRY_MAX_AGE_DAYS} days: {'; '.join(stale)}"
                               + (f"; none loaded for {', '.join(missing)}" if missing else ""),
                               fix)
        if missing:
            return CheckResult("dnc_registry", "warn",
                               f"no registry copy for {', '.join(missing)}", fix)
        oldest = min(fresh.values()) if fresh else None
        return CheckResult("dnc_registry", "pass",
                           f"{len(fresh)} area code(s) covered; oldest copy {oldest}"
                           if oldest else "no market has phone contacts")

    def _market_area_codes(self, session: Session, market_code: str) -> list[str]:
        """Area codes of the market's phone contacts (decrypted; needs working keys)."""
        from sqlalchemy import select

        from outreach.ledger.models import Contact, Owner

        if self.keyring is None:
            return []
        values = session.scalars(
            select(Contact.value).join(Owner, Owner.owner_id == Contact.owner_id)
            .where(Owner.market_code == market_code, Contact.channel == "phone"))
        # The column type decrypts; phones are stored as E.164.
        return sorted({value[2:5] for value in values
                       if value.startswith("+1") and len(value) == 12})

    # --- Twilio --------------------------------------------------------------------------

    def _not_configured(self, check: str, what: str, fix: str) -> CheckResult:
        if self.any_live_market:
            live = ", ".join(market.code for market in self.markets if market.live)
            return CheckResult(check, "fail", f"{what} not configured, and market(s) {live} "
                               "are live: their sends would fail", fix)
        return CheckResult(check, "warn", f"{what} not configured (no market is live: "
                           "messages go to the outbox)", fix)

    def check_twilio(self) -> CheckResult:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        from outreach.service_settings import ServiceSettingsError, twilio_settings
        from outreach.twilio_client import twilio_rest_client

        try:
            twilio = twilio_settings()
        except ServiceSettingsError as error:
            return CheckResult("twilio", "fail", str(error), "fix the named variable")
        if not twilio.is_configured:
            return self._not_configured("twilio", "Twilio (TWILIO_ACCOUNT_SID, "
                                        "TWILIO_AUTH_TOKEN)",
                                        "set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                                        "TWILIO_MESSAGING_SERVICE_SID")
        sid = twilio.twilio_account_sid or ""
        client = twilio_rest_client(twilio, timeout_seconds=self.options.timeout_seconds)
        try:
            account = client.api.v2010.accounts(sid).fetch()
        except TwilioRestException as error:
            if error.status in (401, 403):
                return CheckResult("twilio", "fail", f"Twilio rejected the credentials for "
                                   f"{sid} (HTTP {error.status}, error {error.code})",
                                   "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or "
                                   "TWILIO_API_KEY_SID and its secret); a rotated token must "
                                   "be updated here too")
            return CheckResult("twilio", "fail", f"fetching account {sid}: HTTP "
                               f"{error.status}, error {error.code}: {error.msg}",
                               "see Twilio's status page; retry")
        except (TwilioException, OSError) as error:
            return CheckResult("twilio", "fail", f"cannot reach Twilio: "
                               f"{type(error).__name__}: {error}",
                               "check the host's outbound HTTPS (and "
                               "WHOLESALER_TWILIO_BASE_URL, which production leaves unset)")
        if account.status != "active":
            return CheckResult("twilio", "fail", f"account {sid} is {account.status}",
                               "reactivate the account in the Twilio console")
        if not twilio.twilio_messaging_service_sid:
            status: Status = "fail" if self.any_live_market else "warn"
            return CheckResult("twilio", status, f"credentials accepted for {sid}, but "
                               "TWILIO_MESSAGING_SERVICE_SID is not set (SMS needs it)",
                               "set TWILIO_MESSAGING_SERVICE_SID (MG…) of the A2P 10DLC "
                               "campaign's Messaging Service")
        return CheckResult("twilio", "pass", f"credentials accepted for {sid} (account "
                           f"{account.status}); nothing sent")

    # --- SMTP ----------------------------------------------------------------------------

    def check_smtp(self) -> CheckResult:
        from outreach.service_settings import ServiceSettingsError, smtp_server_settings

        try:
            configured = smtp_server_settings()
        except ServiceSettingsError as error:
            return CheckResult("smtp", "fail", str(error), "fix the named variable")
        if not configured.smtp_host:
            return self._not_configured("smtp", "SMTP (SMTP_HOST)",
                                        "set SMTP_HOST, SMTP_PORT, SMTP_USERNAME, "
                                        "SMTP_PASSWORD (and SMTP_STARTTLS)")
        smtp = _Smtp(configured.smtp_host, configured.smtp_port, configured.smtp_username,
                     configured.smtp_password.get_secret_value()
                     if configured.smtp_password else None, configured.smtp_starttls)
        where = f"{smtp.host}:{smtp.port}"
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=self.options.timeout_seconds) \
                    as client:
                client.ehlo()
                if smtp.starttls:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if smtp.username:
                    client.login(smtp.username, smtp.password or "")
                # Never MAIL, RCPT or DATA: the context manager QUITs here.
        except smtplib.SMTPAuthenticationError as error:
            return CheckResult("smtp", "fail", f"{where} rejected the credentials of "
                               f"{smtp.username}: {error.smtp_code} "
                               f"{_smtp_text(error.smtp_error)}",
                               "check SMTP_USERNAME and SMTP_PASSWORD (an app password where "
                               "the provider requires one)")
        except smtplib.SMTPNotSupportedError as error:
            return CheckResult("smtp", "fail", f"{where}: {error}",
                               "the server does not offer this; check SMTP_PORT and "
                               "SMTP_STARTTLS (AUTH is often offered only after STARTTLS)")
        except (smtplib.SMTPException, ssl.SSLError) as error:
            return CheckResult("smtp", "fail", f"{where}: {type(error).__name__}: {error}",
                               "check SMTP_HOST, SMTP_PORT and SMTP_STARTTLS")
        except OSError as error:
            return CheckResult("smtp", "fail", f"cannot connect to {where}: {error}",
                               "check SMTP_HOST and SMTP_PORT and that the host is reachable")
        auth = f"AUTH accepted for {smtp.username}" if smtp.username else "no AUTH configured"
        tls = "STARTTLS, " if smtp.starttls else "no STARTTLS, "
        status: Status = "pass" if smtp.username else "warn"
        return CheckResult("smtp", status, f"{where}: EHLO, {tls}{auth}; nothing sent",
                           "" if smtp.username else
                           "set SMTP_USERNAME and SMTP_PASSWORD unless the relay needs none")

    # --- LLM and sentiment model ---------------------------------------------------------

    def check_llm(self) -> CheckResult:
        import httpx

        url = os.environ.get(OLLAMA_URL_ENV, "").strip()
        if not url:
            return CheckResult("llm", "warn", f"{OLLAMA_URL_ENV} is not set: no LLM; "
                               "replies fall back to the rules and templates",
                               f"set {OLLAMA_URL_ENV} (e.g. http://127.0.0.1:11434)")
        tags_url = f"{url.rstrip('/')}/api/tags"
        try:
            response = httpx.get(tags_url, timeout=self.options.timeout_seconds)
            response.raise_for_status()
            models = [model.get("name", "?") for model in response.json().get("models", [])]
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            return CheckResult("llm", "fail", f"GET {tags_url}: {type(error).__name__}: "
                               f"{error}", f"start Ollama there or fix {OLLAMA_URL_ENV}")
        wanted = os.environ.get(OLLAMA_MODEL_ENV, "").strip()
        if wanted and not any(name == wanted or name.split(":")[0] == wanted
                              for name in models):
            return CheckResult("llm", "fail", f"{url} answers but has no model {wanted!r} "
                               f"(has: {', '.join(models) or 'none'})",
                               f"`ollama pull {wanted}` on that host, or fix {OLLAMA_MODEL_ENV}")
        return CheckResult("llm", "pass", f"{url} answers; models: {', '.join(models) or 'none'}")

    def check_sentiment_model(self) -> CheckResult:
        configured = os.environ.get(SENTIMENT_MODEL_DIR_ENV, "").strip()
        if not configured:
            return CheckResult("sentiment_model", "warn",
                               f"{SENTIMENT_MODEL_DIR_ENV} is not set: VADER (the embedded "
                               "default) classifies sentiment",
                               f"set {SENTIMENT_MODEL_DIR_ENV} to a local transformers model "
                               "folder for better accuracy")
        folder = Path(configured)
        if not folder.is_dir():
            return CheckResult("sentiment_model", "fail", f"{folder} is not a folder",
                               f"copy the model there or fix {SENTIMENT_MODEL_DIR_ENV}")
        if not (folder / "config.json").is_file():
            return CheckResult("sentiment_model", "fail", f"{folder} holds no config.json",
                               "save the model with `save_pretrained` into that folder")
        return CheckResult("sentiment_model", "pass", f"{folder} holds a model (config.json)")

    # --- disk ----------------------------------------------------------------------------

    def check_disk(self) -> CheckResult:
        folder = settings.data_dir()
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free_gb = shutil.disk_usage(probe).free / _GB
        detail = f"{free_gb:.1f} GB free for {folder}"
        if free_gb < self.options.disk_fail_gb:
            return CheckResult("disk", "fail", f"{detail} (fail under "
                               f"{self.options.disk_fail_gb:g} GB)",
                               "free space or move the data (WHOLESALER_DATA_DIR) to a larger "
                               "disk; DuckDB and dbt fail mid-run when the disk fills")
        if free_gb < self.options.disk_warn_gb:
            return CheckResult("disk", "warn", f"{detail} (warn under "
                               f"{self.options.disk_warn_gb:g} GB)",
                               "free space soon or move the data (WHOLESALER_DATA_DIR)")
        return CheckResult("disk", "pass", detail)


@dataclass(frozen=True)
class _Smtp:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool


def _smtp_text(message: bytes | str) -> str:
    return message.decode(errors="replace") if isinstance(message, bytes) else str(message)


def run_checks(options: DoctorOptions | None = None) -> list[CheckResult]:
    """Every check, in order; never raises."""
    return Doctor(options or DoctorOptions()).run()


def has_failures(results: list[CheckResult]) -> bool:
    return any(result.status == "fail" for result in results)


def report_json(results: list[CheckResult]) -> str:
    counts = {status: sum(result.status == status for result in results)
              for status in ("pass", "warn", "fail")}
    return json.dumps({"ok": not has_failures(results), "counts": counts,
                       "checks": [asdict(result) for result in results]}, indent=2)


def report_table(results: list[CheckResult]) -> str:
    """A plain table: status, check, detail, and the fix under every warn and fail."""
    width = max(len(result.check) for result in results) if results else 5
    lines = [f"{'status':<7}{'check':<{width + 2}}detail"]
    for result in results:
        lines.append(f"{result.status.upper():<7}{result.check:<{width + 2}}{result.detail}")
        if result.fix and result.status != "pass":
            lines.append(f"{'':<7}{'':<{width + 2}}fix: {result.fix}")
    counts = {status: sum(result.status == status for result in results)
              for status in ("pass", "warn", "fail")}
    lines.append(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines)
