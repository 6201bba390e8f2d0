"""A local HTTP server on 127.0.0.1 that answers like Twilio's REST API for the endpoints this
project uses, and checks every request against Twilio's own OpenAPI specs.

Endpoints (one server, both Twilio hosts: point `WHOLESALER_TWILIO_BASE_URL` at `base_url` and
`outreach.twilio_client.twilio_rest_client` sends api.twilio.com and lookups.twilio.com here):

- Lookups v2 ``GET /v2/PhoneNumbers/{PhoneNumber}?Fields=line_type_intelligence``: the answer
  comes from `line_types` (E.164 -> `LineType`), else `default_line_type`; numbers that are not
  a plausible E.164 answer ``valid: false`` with a validation error, like Twilio.
- API v2010 ``GET /2010-04-01/Accounts/{Sid}.json`` (the credentials check).
- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (needs To, From or
  MessagingServiceSid, and Body, MediaUrl or ContentSid: Twilio's 21603 / 21602 otherwise),
  ``GET …/Messages.json`` (filters To, From, DateSent; pages with PageSize/Page/PageToken and
  relative ``next_page_uri`` like Twilio) and ``GET …/Messages/{Sid}.json``.
  `set_message_status()` moves a stored message on (e.g. to ``delivered``).

Every request is checked in this order, and recorded in `requests` (`SeenRequest`):

1. HTTP basic auth against `credentials` (account SID + auth token; add API key pairs with
   `accept_credentials`): otherwise 401 with Twilio's error 20003.
2. The OpenAPI spec (``../shared/specs/twilio/twilio_api_v2010.json`` and
   ``twilio_lookups_v2.json``) with ``openapi-core``: path, parameters, form body. A request
   the spec rejects answers 400 (Twilio error 21000 here, not Twilio's own code) and its
   errors are kept in `SeenRequest.spec_errors`; `assert_spec_clean()` fails a test on any.
   Our answers are checked against the spec's response schemas too (`response_errors`; such
   a request also answers 400/21000, e.g. a malformed Messaging Service SID that the request
   schema lets through), with null fields left out of that check, because Twilio's own
   examples send nulls for fields its spec does not mark nullable. When ``../shared/specs``
   is absent, `spec_checked` is False and only this validation is skipped; everything else
   behaves the same.
3. Injected failures (`fail_next`): e.g. 429 or 503 with Twilio's error body, for the next
   n requests whose path contains a given text.

Use as a context manager or from a fixture::

    @pytest.fixture
    def twilio():
        with TwilioServer() as server:
            yield server

    client = twilio_rest_client(TwilioSettings(twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token, wholesaler_twilio_base_url=twilio.base_url))

`TwilioServer.settings_env()` gives the matching environment variables.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SPECS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "specs" / "twilio"
SPEC_FILES = ("twilio_api_v2010.json", "twilio_lookups_v2.json")

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "test-auth-token-0123456789abcdef"
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)\.json$")
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_LOOKUP = re.compile(r"^/v2/PhoneNumbers/(?P<number>[^/]+)$")


@dataclass(frozen=True)
class LineType:
    """Twilio Lookup's ``line_type_intelligence`` for one number. `type` is one of Twilio's
    values: mobile, landline, fixedVoip, nonFixedVoip, personal, tollFree, premium,
    sharedCost, uan, voicemail, pager, unknown. `error_code` set (e.g. 60600, unprovisioned
    or out of coverage) answers the error with no type, as Twilio does."""

    type: str | None = "mobile"
    carrier_name: str | None = "Fictional Wireless"
    mobile_country_code: str | None = "310"
    mobile_network_code: str | None = "456"
    error_code: int | None = None

    def payload(self) -> dict[str, Any]:
        if self.error_code is not None:
            return {"error_code": self.error_code, "mobile_country_code": None,
                    "mobile_network_code": None, "carrier_name": None, "type": None}
        return {"error_code": None, "mobile_country_code": self.mobile_country_code,
                "mobile_network_code": self.mobile_network_code,
                "carrier_name": self.carrier_name, "type": self.type}


@dataclass
class SeenRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    username: str | None
    status: int = 0
    spec_errors: list[str] = field(default_factory=list)
    response_errors: list[str] = field(default_factory=list)


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    path_contains: str
    remaining: int
    retry_after: str | None


def _relative_servers(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every `servers` entry made relative, so requests to 127.0.0.1 match."""
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": "/"}]
    for path_item in spec.get("paths", {}).values():
        if "servers" in path_item:
            path_item["servers"] = [{"url": "/"}]
        for operation in path_item.values():
            if isinstance(operation, dict) and "servers" in operation:
                operation["servers"] = [{"url": "/"}]
    return spec


_spec_cache: dict[Path, list[Any]] = {}
_spec_lock = threading.Lock()


def _is_phone_address(value: Any) -> bool:
    # E.164, a channel address (whatsapp:+1…), a short code, or an alphanumeric sender ID
    return not isinstance(value, str) or bool(re.fullmatch(
        r"\+[1-9]\d{1,14}|[a-z]+:.+|\d{3,6}|[A-Za-z0-9 ]{1,11}", value))


def _is_rfc2822(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


# Twilio's own formats, which openapi-core cannot know: checked as Twilio documents them.
TWILIO_FORMATS: dict[str, Callable[[Any], bool]] = {
    "phone-number": _is_phone_address,
    "date-time-rfc-2822": _is_rfc2822,
    "currency": lambda v: not isinstance(v, str) or bool(re.fullmatch(r"[A-Za-z]{3}", v)),
    "iso-country-code": lambda v: not isinstance(v, str) or bool(re.fullmatch(r"[A-Z]{2}", v)),
    "http-method": lambda v: not isinstance(v, str) or v.upper() in (
        "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"),
    "uri-map": lambda v: not isinstance(v, dict) or all(
        isinstance(u, str) for u in v.values()),
    "phone-number-capabilities": lambda v: True,
    "endpoint": lambda v: True,
    "twiml": lambda v: True,
    "ice-server": lambda v: True,
}


def load_specs(specs_dir: Path = SPECS_DIR) -> list[Any]:
    """The `openapi_core.OpenAPI` objects of Twilio's specs (cached per folder; the specs
    themselves are not re-validated, they are Twilio's), or [] when the folder is absent."""
    from openapi_core import Config, OpenAPI

    with _spec_lock:
        if specs_dir not in _spec_cache:
            loaded = []
            if all((specs_dir / name).is_file() for name in SPEC_FILES):
                for name in SPEC_FILES:
                    spec = json.loads((specs_dir / name).read_text())
                    loaded.append(OpenAPI.from_dict(_relative_servers(spec),
                                                    config=Config(
                        spec_validator_cls=None,
                        extra_format_validators=TWILIO_FORMATS,
                        extra_format_unmarshallers={name: str for name in TWILIO_FORMATS
                                                    if name != "uri-map"})))
            _spec_cache[specs_dir] = loaded
        return _spec_cache[specs_dir]


def _describe(error: BaseException) -> str:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors",
                                                                       None)
    detail = "; ".join(getattr(e, "message", str(e)) for e in schema_errors or ())
    return f"{type(error).__name__}: {error}" + (f" ({detail})" if detail else f" ({cause})"
                                                  if cause else "")


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def rfc2822(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=False).replace(
        "-0000", "+0000")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *_: Any) -> None:  # tests read `requests`, not an access log
        pass


class TwilioServer:
    """The server. Start it with `start()` or a `with` block; `base_url` is where it listens."""

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID,
                 auth_token: str = DEFAULT_AUTH_TOKEN, *, specs_dir: Path = SPECS_DIR,
                 line_types: dict[str, LineType] | None = None,
                 default_line_type: LineType | None = None, validate_spec: bool = True,
                 latency_seconds: float = 0.0) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.credentials: dict[str, str] = {account_sid: auth_token}
        self.line_types: dict[str, LineType] = dict(line_types or {})
        self.default_line_type = default_line_type or LineType()
        self.messages: dict[str, dict[str, Any]] = {}
        self.requests: list[SeenRequest] = []
        # validate_spec=False (bench/send_touches.py only) skips the OpenAPI check for speed.
        self.specs = load_specs(specs_dir) if validate_spec else []
        self.spec_checked = bool(self.specs)
        # A fixed wait before each answer, as a remote API's round trip (bench only; 0 here).
        self.latency_seconds = latency_seconds
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> TwilioServer:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="twilio-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TwilioServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def settings_env(self) -> dict[str, str]:
        """Environment variables that point `outreach.service_settings` at this server."""
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "WHOLESALER_TWILIO_BASE_URL": self.base_url}

    # ---- test controls ---------------------------------------------------------------------
    def accept_credentials(self, username: str, password: str) -> None:
        """Also accept this pair (e.g. an API key SID and secret) for the same account."""
        self.credentials[username] = password

    def fail_next(self, status: int, *, code: int | None = None, message: str = "",
                  path_contains: str = "", count: int = 1,
                  retry_after: str | None = None) -> None:
        """Answer the next `count` authenticated requests whose path contains `path_contains`
        with `status` and Twilio's error body (code defaults to 20429 for 429, else 20500)."""
        with self._lock:
            self._failures.append(_Failure(
                status, code if code is not None else (20429 if status == 429 else 20500),
                message or ("Too Many Requests" if status == 429 else "Internal Server Error"),
                path_contains, count, retry_after))

    def set_message_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        with self._lock:
            message = self.messages[sid]
            message["status"] = status
            message["error_code"] = error_code
            now = rfc2822(datetime.now(UTC))
            message["date_updated"] = now
            if status in ("sent", "delivered") and message["date_sent"] is None:
                message["date_sent"] = now

    def requests_to(self, path_part: str) -> list[SeenRequest]:
        return [seen for seen in self.requests if path_part in seen.path]

    def violations(self) -> list[SeenRequest]:
        return [seen for seen in self.requests if seen.spec_errors or seen.response_errors]

    def assert_spec_clean(self) -> None:
        """Fail when any request or answer broke Twilio's spec."""
        bad = self.violations()
        assert not bad, "\n".join(
            f"{seen.method} {seen.path}: {seen.spec_errors + seen.response_errors}"
            for seen in bad)

    # ---- WSGI ------------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        seen = SeenRequest(request.method, request.path, request.args.to_dict(flat=False),
                           request.form.to_dict(flat=False), None)
        with self._lock:
            self.requests.append(seen)
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)
        response = self._handle(request, seen)
        seen.status = response.status_code
        return response(environ, start_response)

    @staticmethod
    def _error(status: int, code: int, message: str,
               headers: dict[str, str] | None = None) -> Response:
        body = {"code": code, "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        return Response(json.dumps(body), status=status, headers=headers,
                        content_type="application/json")

    def _authenticated(self, request: Request, seen: SeenRequest) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        seen.username = username
        expected = self.credentials.get(username)
        return expected is not None and secrets.compare_digest(expected, password)

    def _spec_errors(self, request: Request) -> list[str]:
        if not self.specs:
            return []
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
        from openapi_core.templating.paths.exceptions import PathError

        wrapped = WerkzeugOpenAPIRequest(request)
        for spec in self.specs:
            result = spec.unmarshal_request(wrapped)
            errors = list(result.errors)
            if errors and all(isinstance(error, PathError) for error in errors):
                continue  # the path belongs to the other spec
            return [_describe(error) for error in errors]
        return [f"{request.method} {request.path} is in neither of Twilio's specs"]

    def _response_errors(self, request: Request, status: int, body: dict[str, Any]) -> list[str]:
        if not self.specs:
            return []
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
        from openapi_core.templating.paths.exceptions import PathError
        from werkzeug.wrappers import Response as WerkzeugResponse

        checked = WerkzeugResponse(json.dumps(_drop_nulls(body)), status=status,
                                   content_type="application/json")
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse

        for spec in self.specs:
            result = spec.unmarshal_response(WerkzeugOpenAPIRequest(request),
                                             WerkzeugOpenAPIResponse(checked))
            errors = list(result.errors)
            if errors and all(isinstance(error, PathError) for error in errors):
                continue
            return [_describe(error) for error in errors]
        return []

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.remaining > 0 and failure.path_contains in path:
                    failure.remaining -= 1
                    return failure
        return None

    def _handle(self, request: Request, seen: SeenRequest) -> Response:
        if not self._authenticated(request, seen):
            return self._error(401, 20003, "Authenticate",
                               {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        seen.spec_errors = self._spec_errors(request)
        if seen.spec_errors:
            return self._error(400, 21000, "Request does not match Twilio's OpenAPI spec: "
                               + "; ".join(seen.spec_errors))
        failure = self._take_failure(request.path)
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            return self._error(failure.status, failure.code, failure.message, headers)
        routed = self._route(request)
        if isinstance(routed, Response):
            return routed
        status, body = routed
        seen.response_errors = self._response_errors(request, status, body)
        if seen.response_errors:  # e.g. a malformed SID echoed back: Twilio would refuse it
            return self._error(400, 21000, "The answer to this request would break Twilio's "
                               "OpenAPI spec: " + "; ".join(seen.response_errors))
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _route(self, request: Request) -> Response | tuple[int, dict[str, Any]]:
        path, method = request.path, request.method
        if method == "GET" and (match := _LOOKUP.match(path)):
            return 200, self._lookup(match["number"], request.args.get("Fields", ""))
        if method == "GET" and (match := _ACCOUNT.match(path)):
            if match["account"] != self.account_sid:
                return self._not_found(path)
            return 200, self._account()
        if match := _MESSAGES.match(path):
            if match["account"] != self.account_sid:
                return self._not_found(path)
            if method == "POST":
                return self._create_message(request)
            if method == "GET":
                return 200, self._list_messages(request)
        if method == "GET" and (match := _MESSAGE.match(path)):
            message = self.messages.get(match["sid"])
            if match["account"] != self.account_sid or message is None:
                return self._not_found(path)
            return 200, message
        return self._not_found(path)

    def _not_found(self, path: str) -> Response:
        return self._error(404, 20404, f"The requested resource {path} was not found")

    # ---- resources -------------------------------------------------------------------------
    def _lookup(self, number: str, fields: str) -> dict[str, Any]:
        wanted = {name.strip() for name in fields.split(",") if name.strip()}
        body: dict[str, Any] = {
            "calling_country_code": None, "country_code": None, "phone_number": number,
            "national_format": None, "valid": False, "validation_errors": None,
            "caller_name": None, "sim_swap": None, "call_forwarding": None, "line_status": None,
            "line_type_intelligence": None, "identity_match": None, "reassigned_number": None,
            "sms_pumping_risk": None, "phone_number_quality_score": None, "pre_fill": None,
            "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{number}"}
        if not _E164.match(number):
            digits = re.sub(r"\D", "", number)
            body["validation_errors"] = ["TOO_SHORT" if len(digits) < 10 else "NOT_A_NUMBER"]
            return body
        body["valid"] = True
        if number.startswith("+1") and len(number) == 12:
            body.update(calling_country_code="1", country_code="US",
                        national_format=f"({number[2:5]}) {number[5:8]}-{number[8:]}")
        if "line_type_intelligence" in wanted:
            body["line_type_intelligence"] = self.line_types.get(
                number, self.default_line_type).payload()
        return body

    def _account(self) -> dict[str, Any]:
        created = rfc2822(datetime(2024, 1, 1, tzinfo=UTC))
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        return {"auth_token": self.auth_token, "date_created": created, "date_updated": created,
                "friendly_name": "wholesaler test account", "owner_account_sid": self.account_sid,
                "sid": self.account_sid, "status": "active",
                "subresource_uris": {"messages": f"{base}/Messages.json"}, "type": "Full",
                "uri": f"{base}.json"}

    def _create_message(self, request: Request) -> Response | tuple[int, dict[str, Any]]:
        form = request.form
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return self._error(400, 21602, "Message body is required.")
        sid = "SM" + secrets.token_hex(16)
        now = rfc2822(datetime.now(UTC))
        body_text = form.get("Body") or ""
        message = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body_text,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(form.getlist("MediaUrl"))),
            "num_segments": str(max(1, -(-len(body_text) // 160))), "price": None,
            "price_unit": "USD", "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") and not form.get("From")
            else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}
        with self._lock:
            self.messages[sid] = message
        return 201, message

    def _list_messages(self, request: Request) -> dict[str, Any]:
        args = request.args
        with self._lock:
            found = [m for m in self.messages.values()
                     if (not args.get("To") or m["to"] == args["To"])
                     and (not args.get("From") or m["from"] == args["From"])]
        sent_on = args.get("DateSent")
        if sent_on:
            found = [m for m in found if m["date_sent"] and email.utils.parsedate_to_datetime(
                m["date_sent"]).date().isoformat() == sent_on]
        found.sort(key=lambda m: email.utils.parsedate_to_datetime(m["date_created"]),
                   reverse=True)
        page_size = int(args.get("PageSize", 50))
        page = int(args.get("Page", 0))
        start = page * page_size
        chunk = found[start:start + page_size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        keep = {k: v for k, v in args.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int) -> str:
            return f"{base}?{urlencode({**keep, 'PageSize': page_size, 'Page': number})}"

        return {"end": start + max(len(chunk) - 1, 0), "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) + f"&PageToken=PA{page + 1}"
                if start + page_size < len(found) else None,
                "page": page, "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start, "uri": page_uri(page), "messages": chunk}
