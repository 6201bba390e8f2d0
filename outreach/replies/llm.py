"""LLM adapters that ask a local model for JSON matching a JSON schema, and validate it.

Two adapters share one interface, `JsonChat.complete_json(system, user, schema, schema_name)`:

- `OllamaJsonChat`: Ollama's ``/api/chat`` through the official `ollama` client, with
  ``format`` set to the JSON schema (Ollama's structured outputs), ``stream`` off and
  temperature 0 unless `GenerationOptions` say otherwise (``options.temperature``,
  ``options.num_predict``).
- `OpenAIJsonChat`: an OpenAI-compatible ``/v1/chat/completions`` (llama.cpp's
  ``llama-server``, vLLM, LM Studio, …) through `httpx`, with ``response_format`` of type
  ``json_schema``. httpx rather than the `openai` SDK: one POST needs no extra dependency, and
  the SDK retries on its own, which would stretch the timeout the caller relies on.
  `GenerationOptions` become ``temperature`` and ``max_tokens``.

`complete_json(..., options=None)`: without options both adapters ask for temperature 0 and
no length limit (the intent path); the writer (outreach/writing) passes a temperature and a
token limit.

Every failure raises `LLMError` with a `reason` the caller records: ``unreachable``
(connection refused, DNS), ``timeout`` (connect or read beyond the configured seconds),
``http_error`` (a non-2xx answer), ``invalid_json`` (the content is not JSON) or
``schema_violation`` (JSON that does not match the schema, checked with `jsonschema`).
The answer keeps the raw content so callers can store it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import jsonschema

FailureReason = Literal["unreachable", "timeout", "http_error", "invalid_json",
                        "schema_violation"]


class LLMError(Exception):
    """The model could not give a usable answer; `reason` says why, `raw` what it said."""

    def __init__(self, reason: FailureReason, detail: str, raw: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: FailureReason = reason
        self.detail = detail
        self.raw = raw


@dataclass(frozen=True)
class JsonAnswer:
    """A validated answer: the parsed object, the raw content, who answered and how long."""

    data: dict[str, Any]
    raw: str
    model: str
    method: str
    seconds: float
    request: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling limits of one call: temperature, and at most `max_tokens` generated tokens
    (Ollama ``num_predict``, OpenAI ``max_tokens``; None means the server's default)."""

    temperature: float = 0.0
    max_tokens: int | None = None

    def ollama(self) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": self.temperature}
        if self.max_tokens is not None:
            options["num_predict"] = self.max_tokens
        return options

    def openai(self) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": self.temperature}
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        return options


class JsonChat(Protocol):
    """Asks a model for one JSON object matching `schema`."""

    method: str
    model: str

    def complete_json(self, system: str, user: str, schema: dict[str, Any],
                      schema_name: str,
                      options: GenerationOptions | None = None) -> JsonAnswer: ...


def parse_and_validate(raw: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in `raw`, validated against `schema`; `LLMError` otherwise."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise LLMError("invalid_json", f"the model's content is not JSON ({error})",
                       raw) from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise LLMError("schema_violation", f"{where}: {error.message}", raw) from None
    return data


class OllamaJsonChat:
    """Ollama's /api/chat with `format` = the JSON schema, via the `ollama` client."""

    method = "llm_ollama"

    def __init__(self, url: str, model: str, timeout_seconds: float) -> None:
        import ollama

        self.url = url
        self.model = model
        self.timeout_seconds = timeout_seconds
        self._client = ollama.Client(host=url, timeout=timeout_seconds)

    def complete_json(self, system: str, user: str, schema: dict[str, Any],
                      schema_name: str,
                      options: GenerationOptions | None = None) -> JsonAnswer:
        import ollama

        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        sampling = (options or GenerationOptions()).ollama()
        request = {"model": self.model, "messages": messages, "format": schema,
                   "options": sampling}
        started = time.perf_counter()
        try:
            response = self._client.chat(model=self.model, messages=messages, format=schema,
                                         options=sampling, stream=False)
        except httpx.TimeoutException as error:
            raise LLMError("timeout", f"Ollama at {self.url} gave no answer within "
                           f"{self.timeout_seconds:g} s ({type(error).__name__})") from None
        except ConnectionError as error:
            raise LLMError("unreachable", f"Ollama at {self.url}: {error}") from None
        except httpx.TransportError as error:
            raise LLMError("unreachable", f"Ollama at {self.url}: {type(error).__name__}: "
                           f"{error}") from None
        except ollama.ResponseError as error:
            raise LLMError("http_error", f"Ollama answered {error.status_code}: "
                           f"{error.error}") from None
        except (ollama.RequestError, ValueError) as error:
            raise LLMError("invalid_json", f"Ollama's reply could not be read: {error}") \
                from None
        raw = response.message.content or ""
        data = parse_and_validate(raw, schema)
        return JsonAnswer(data, raw, response.model or self.model, self.method,
                          time.perf_counter() - started, request)


class OpenAIJsonChat:
    """An OpenAI-compatible /v1/chat/completions with a json_schema response_format."""

    method = "llm_openai"

    def __init__(self, base_url: str, model: str, timeout_seconds: float,
                 api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_seconds = timeout_seconds
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_seconds,
                                    headers=headers)

    def complete_json(self, system: str, user: str, schema: dict[str, Any],
                      schema_name: str,
                      options: GenerationOptions | None = None) -> JsonAnswer:
        request = {
            "model": self.model,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": user}],
            **(options or GenerationOptions()).openai(),
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": schema_name, "schema": schema,
                                                "strict": True}},
        }
        started = time.perf_counter()
        try:
            response = self._client.post("/chat/completions", json=request)
        except httpx.TimeoutException as error:
            raise LLMError("timeout", f"{self.base_url} gave no answer within "
                           f"{self.timeout_seconds:g} s ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise LLMError("unreachable", f"{self.base_url}: {type(error).__name__}: "
                           f"{error}") from None
        if response.status_code // 100 != 2:
            raise LLMError("http_error", f"{self.base_url} answered {response.status_code}: "
                           f"{response.text[:300]}")
        try:
            body = response.json()
            raw = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise LLMError("invalid_json", f"not a chat completion: {error!r}",
                           response.text[:2000]) from None
        data = parse_and_validate(raw, schema)
        return JsonAnswer(data, raw, body.get("model") or self.model, self.method,
                          time.perf_counter() - started, request)
