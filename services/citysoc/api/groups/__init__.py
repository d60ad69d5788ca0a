"""Alert triage: alert groups (one per fingerprint) fed by the worker's alerts, triage transitions."""
