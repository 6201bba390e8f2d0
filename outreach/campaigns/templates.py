"""Message templates (prompts/templates/<name>.yaml): versioned, rendered with Jinja2 in a
sandbox with strict undefined variables, and checked for what the law and carriers require.

An SMS template must identify the sender (`{{ sender_name }}`) and say how to stop ("Reply
STOP"); an email template must carry the physical postal address (`{{ postal_address }}`) and
an unsubscribe link (`{{ unsubscribe_url }}`) in both its text and HTML parts. The checks run
on the rendered text as well, so a template cannot pass by hiding the words in a comment.
Segment counting for SMS (GSM-7 vs UCS-2) uses `smsutil`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import smsutil
import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.settings import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "prompts" / "templates"
_STOP_WORDS = re.compile(r"\bSTOP\b")
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_HTML_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


class TemplateError(ValueError):
    """A template file is invalid or cannot be rendered; the message names file and field."""


class MessageTemplate(BaseModel):
    """One template file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    version: int = Field(ge=1)
    channel: Literal["sms", "email"]
    body: str = Field(min_length=1, description="SMS text, or the email's plain-text part")
    subject: str | None = Field(default=None, min_length=1)
    html: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _channel_requirements(self) -> MessageTemplate:
        if self.channel == "sms":
            if self.subject or self.html:
                raise ValueError("an sms template has no subject or html")
            if "sender_name" not in self.body or not _STOP_WORDS.search(self.body):
                raise ValueError("an sms template must name the sender ({{ sender_name }}) "
                                 "and say how to stop (Reply STOP)")
        else:
            if not (self.subject and self.html):
                raise ValueError("an email template needs subject and html")
            for part_name, part in (("body", self.body), ("html", self.html)):
                if "postal_address" not in part or "unsubscribe_url" not in part:
                    raise ValueError(f"the email's {part_name} must contain {{{{ postal_address "
                                     f"}}}} and {{{{ unsubscribe_url }}}}")
        return self


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    template_version: int
    channel: str
    body: str
    subject: str | None = None
    html: str | None = None

    @property
    def sms_segments(self) -> int:
        """Segments Twilio bills for this SMS (GSM-7: 160 / 153 per part; UCS-2: 70 / 67)."""
        return len(smsutil.split(self.body).parts)

    @property
    def sms_encoding(self) -> str:
        return "GSM-7" if smsutil.split(self.body).encoding == "gsm0338" else "UCS-2"


def _problem(path: Path, error: ValidationError) -> TemplateError:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"{path}: {field}: {item['msg']}")
    return TemplateError("; ".join(parts))


@cache
def load_template(name: str, directory: Path = TEMPLATES_DIR) -> MessageTemplate:
    path = directory / f"{name}.yaml"
    if not path.is_file():
        raise TemplateError(f"{path}: no such template ({name!r})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TemplateError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping of template fields")
    try:
        template = MessageTemplate(name=name, **data)
    except ValidationError as error:
        raise _problem(path, error) from error
    for field in ("body", "subject", "html"):
        text = getattr(template, field)
        if text is not None:
            try:
                _ENV.parse(text)
            except TemplateSyntaxError as error:
                raise TemplateError(f"{path}: {field}: {error}") from error
    return template


@cache
def _compiled(source: str, is_html: bool) -> Template:
    """Each template text is compiled once per process (rendering is per message)."""
    return (_HTML_ENV if is_html else _ENV).from_string(source)


def render(template: MessageTemplate, context: Mapping[str, object]) -> RenderedMessage:
    """Render a template; a missing variable is an error, never an empty string."""
    try:
        body = _compiled(template.body, False).render(context).strip()
        subject = (_compiled(template.subject, False).render(context).strip()
                   if template.subject else None)
        html = _compiled(template.html, True).render(context) if template.html else None
    except UndefinedError as error:
        raise TemplateError(f"template {template.name}: {error}") from error
    if template.channel == "sms" and not _STOP_WORDS.search(body):
        raise TemplateError(f"template {template.name}: the rendered SMS lost its STOP line")
    return RenderedMessage(template.name, template.version, template.channel, body, subject, html)
