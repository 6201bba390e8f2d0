"""Operations: how the running system tells the operator something is wrong. Run-failure and
error-spike sensors that notify through `OperatorNotifier`, freshness checks on the assets that
feed outreach, and the redacted JSON logger for runs."""
