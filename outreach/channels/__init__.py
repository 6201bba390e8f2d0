"""Channel adapters: SMTP email, Twilio SMS and the outbox. Every send reaches them only
after the compliance gate allowed it (outreach/compliance)."""
