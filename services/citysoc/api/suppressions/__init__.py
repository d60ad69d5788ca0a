"""Suppression rules: justified, owned, expiring; matching alert groups are marked, never hidden."""
