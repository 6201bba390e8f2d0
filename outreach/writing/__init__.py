"""LLM-written campaign touches and answers, checked before use (issue 6, item 6).

- `prompts`: the versioned prompt files (prompts/touches, prompts/llm_answers) and the output
  schema prompts/written_message.schema.json.
- `checks`: what a written message must pass (length, no money, no promises, no legal or tax
  advice, no invented facts, no prompt leak, honest subject, identity, opt-out).
- `writer`: `write_message` (model → checks → the message, or the fixed template as
  fallback; every call stored in `llm_calls`), split into `draft_message` (the model call,
  no ledger) and `finish_message` (footer, checks, choice, the stored row); `write_touch` for
  the send path.

docs/writing.md tells the whole story.
"""

from outreach.writing.checks import CHECK_CODES, CheckFailure, check_written, invented_facts
from outreach.writing.prompts import WritingPrompt, WritingPromptError, load_writing_prompt
from outreach.writing.writer import (
    Draft,
    WrittenMessage,
    configured_chat,
    draft_message,
    finish_message,
    write_message,
    write_touch,
)

__all__ = ["CHECK_CODES", "CheckFailure", "Draft", "WritingPrompt", "WritingPromptError",
           "WrittenMessage", "check_written", "configured_chat", "draft_message",
           "finish_message", "invented_facts", "load_writing_prompt", "write_message",
           "write_touch"]
