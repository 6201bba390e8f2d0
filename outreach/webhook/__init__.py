"""The webhook receiver (`wholesaler webhook serve`): Twilio inbound SMS and status callbacks,
and the email unsubscribe links, as a Starlette app on uvicorn. `outreach.webhook.app` holds
the app, `outreach.webhook.settings` its configuration, `outreach.webhook.cli` the command;
docs/webhook.md tells how to point Twilio at it."""
