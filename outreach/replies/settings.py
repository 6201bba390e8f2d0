"""Configuration of reply classification, read from the environment and validated by pydantic.

Every variable is optional (docs/replies.md; deploy/env/wholesaler.env.example lists them):

- `WHOLESALER_LLM_PROVIDER`: `auto` (default), `ollama`, `openai` or `none`. `auto` uses
  Ollama when `WHOLESALER_OLLAMA_URL` is set, else the OpenAI-compatible server when
  `WHOLESALER_OPENAI_BASE_URL` is set, else only the deterministic rules.
- `WHOLESALER_OLLAMA_URL`: Ollama's base URL (e.g. ``http://127.0.0.1:11434``).
- `WHOLESALER_OLLAMA_MODEL`: the model Ollama runs (default ``llama3.1:8b``).
- `WHOLESALER_OPENAI_BASE_URL`: an OpenAI-compatible server's base URL including ``/v1``
  (llama.cpp's ``llama-server``, vLLM, …), e.g. ``http://127.0.0.1:8080/v1``.
- `WHOLESALER_OPENAI_MODEL`: the model name sent to it (default ``local``).
- `WHOLESALER_OPENAI_API_KEY`: sent as ``Authorization: Bearer <key>`` when set.
- `WHOLESALER_LLM_TIMEOUT_SECONDS`: connect/read timeout of one LLM call (default 20); past it
  the rules decide.
- `WHOLESALER_SENTIMENT_MODEL_DIR`: a local `transformers` text-classification model folder
  (``save_pretrained`` output); unset means VADER.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

LLMProvider = Literal["ollama", "openai", "none"]


class ReplySettingsError(ValueError):
    """An environment variable holds a value that cannot be used; names the variable."""


class ReplySettings(BaseModel):
    """Field names are the environment variables, lower-cased."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wholesaler_llm_provider: Literal["auto", "ollama", "openai", "none"] = "auto"
    wholesaler_ollama_url: str | None = Field(default=None, pattern=r"^https?://[^/]+")
    wholesaler_ollama_model: str = Field(default="llama3.1:8b", min_length=1)
    wholesaler_openai_base_url: str | None = Field(default=None, pattern=r"^https?://[^/]+")
    wholesaler_openai_model: str = Field(default="local", min_length=1)
    wholesaler_openai_api_key: SecretStr | None = None
    wholesaler_llm_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    wholesaler_sentiment_model_dir: Path | None = None

    @field_validator("wholesaler_ollama_url", "wholesaler_openai_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def llm_provider(self) -> LLMProvider:
        """The LLM adapter to use, `auto` resolved."""
        if self.wholesaler_llm_provider != "auto":
            return self.wholesaler_llm_provider
        if self.wholesaler_ollama_url:
            return "ollama"
        if self.wholesaler_openai_base_url:
            return "openai"
        return "none"


def reply_settings(environ: Mapping[str, str] | None = None) -> ReplySettings:
    """Reply settings from `environ` (default: the process environment); empty means unset."""
    source = os.environ if environ is None else environ
    values = {name.lower(): value.strip() for name, value in source.items()
              if name.lower() in ReplySettings.model_fields and value.strip()}
    try:
        return ReplySettings(**values)
    except ValidationError as error:
        problems = "; ".join(f"{str(problem['loc'][0]).upper()}: {problem['msg']}"
                             for problem in error.errors())
        raise ReplySettingsError(problems) from None
