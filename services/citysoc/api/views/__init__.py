"""Saved alert-queue views (``/api/v1/saved-views``)."""
