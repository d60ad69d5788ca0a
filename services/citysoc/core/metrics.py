"""Every Prometheus metric citysoc exports, defined once (all names carry the ``citysoc_`` prefix).

Metric and label names are part of the operators' contract: dashboards in ``deploy/grafana`` and the
alerting rules in ``deploy/prometheus`` use them, and ``deploy/check.py`` checks they exist here.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Stage = Literal[
    "parse",
    "sink",
    "consume",
    "decode",
    "match",
    "correlate",
    "store_events",
    "store_alerts",
    "store_state",
    "publish",
    "commit",
]
CorrelationDrop = Literal["late", "evicted_group", "dropped_entry", "missing_group_field", "unknown_rule"]

REGISTRY = CollectorRegistry(auto_describe=True)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COLLECTOR_MESSAGES = Counter(
    "citysoc_collector_messages",
    "Messages received by collectors, by outcome (event or dead letter).",
    ["transport", "format", "outcome"],
    registry=REGISTRY,
)
COLLECTOR_BYTES = Counter(
    "citysoc_collector_bytes", "Bytes received by collectors.", ["transport"], registry=REGISTRY
)
COLLECTOR_DROPPED = Counter(
    "citysoc_collector_dropped",
    "Messages a collector had to drop (UDP only: a full queue cannot push back on UDP senders).",
    ["transport", "reason"],
    registry=REGISTRY,
)
COLLECTOR_QUEUE = Gauge(
    "citysoc_collector_queue_depth", "Frames waiting in the collector queue.", registry=REGISTRY
)
SOURCE_EVENTS = Counter(
    "citysoc_source_events",
    "Events per agency, system and sending address.",
    ["agency", "system", "source"],
    registry=REGISTRY,
)
SOURCE_BYTES = Counter(
    "citysoc_source_bytes",
    "Bytes received per agency and sending address.",
    ["agency", "source"],
    registry=REGISTRY,
)
SOURCE_ERRORS = Counter(
    "citysoc_source_parse_errors",
    "Messages per agency and sending address that became dead letters, by reason.",
    ["agency", "source", "reason"],
    registry=REGISTRY,
)
SOURCE_DROPS = Counter(
    "citysoc_source_dropped",
    "UDP messages dropped per sending address (queue full).",
    ["source"],
    registry=REGISTRY,
)
SOURCE_LAST_SEEN = Gauge(
    "citysoc_source_last_seen_timestamp_seconds",
    "When an event was last received from each agency, system and sending address (Unix time).",
    ["agency", "system", "source"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "citysoc_dead_letters", "Inputs kept as dead letters, by reason.", ["reason"], registry=REGISTRY
)
STAGE_SECONDS = Histogram(
    "citysoc_stage_seconds",
    "Time spent per pipeline stage and batch.",
    ["stage"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
STAGE_ITEMS = Counter(
    "citysoc_stage_items", "Items through each pipeline stage.", ["stage"], registry=REGISTRY
)
EVENT_LATENCY = Histogram(
    "citysoc_event_latency_seconds",
    "From collector receive time to detection committed.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
ALERTS = Counter("citysoc_alerts", "Alerts raised by the detection worker.", ["level"], registry=REGISTRY)
STORE_RETRIES = Counter(
    "citysoc_store_retries",
    "Store operations retried after the store was unavailable.",
    ["op"],
    registry=REGISTRY,
)
BUS_LAG = Gauge("citysoc_bus_lag", "Messages not yet consumed by this worker.", registry=REGISTRY)
CORRELATION_GROUPS = Gauge(
    "citysoc_correlation_groups",
    "Open correlation groups (rule x group-by values) held in this worker's state.",
    registry=REGISTRY,
)
CORRELATION_DROPS = Counter(
    "citysoc_correlation_drops",
    "Inputs or state correlation could not count, by reason (late beyond the allowed lateness, "
    "group evicted by the memory bound, oldest entry dropped, group-by field missing, rule gone).",
    ["reason"],
    registry=REGISTRY,
)
RULES_LOADED = Gauge("citysoc_detection_rules_loaded", "Sigma rules compiled and active.", registry=REGISTRY)
RULES_FAILED = Gauge(
    "citysoc_detection_rules_failed",
    "Sigma rules that failed to load (see the log for reasons).",
    registry=REGISTRY,
)
RULE_LOAD_ERROR = Gauge(
    "citysoc_detection_rule_load_error",
    "1 for each Sigma rule that failed to load, with the reason.",
    ["path", "rule_id", "reason"],
    registry=REGISTRY,
)
RULE_RELOADS = Counter(
    "citysoc_detection_reloads", "Rule reloads, by outcome.", ["outcome"], registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "citysoc_http_requests", "HTTP requests served.", ["route", "method", "status"], registry=REGISTRY
)
INGEST_REJECTED = Counter(
    "citysoc_ingest_rejected", "HTTP ingest requests refused before parsing.", ["reason"], registry=REGISTRY
)
INCIDENTS_REPORT_DUE = Gauge(
    "citysoc_incidents_report_due",
    "Incidents whose initial report (Circular 20/2017 form 03) is pending and not yet overdue "
    "(refreshed on every scrape of the API's /metrics).",
    registry=REGISTRY,
)
INCIDENTS_REPORT_OVERDUE = Gauge(
    "citysoc_incidents_report_overdue",
    "Incidents whose initial report is past its statutory deadline and not yet sent.",
    registry=REGISTRY,
)
