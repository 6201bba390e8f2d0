"""Inbound replies: opt-out detection (opt_out), sentiment, intent (rules and LLM adapters)
and the combined classifier (classify); docs/replies.md describes them."""
