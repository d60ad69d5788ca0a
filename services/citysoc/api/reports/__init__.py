"""Statutory incident reports (forms 03/04, progress) and periodic city reports."""
