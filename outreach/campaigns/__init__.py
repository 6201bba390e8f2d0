"""Drip campaigns: their YAML definitions, the message templates they use, and the state
machine of one enrollment."""
