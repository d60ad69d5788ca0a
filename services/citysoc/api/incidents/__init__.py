"""Incidents: lifecycle, alert groups, tasks, comments, observables, evidence, timeline, statutory clock."""
