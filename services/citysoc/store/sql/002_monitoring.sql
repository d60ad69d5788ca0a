-- citysoc ClickHouse schema, version 002: per-minute monitoring rollups (24/7 coverage).
--
-- One row per (minute, agency, system, source) with events, bytes, parse errors (dead letters),
-- alerts and the last time anything arrived, kept current by materialized views on every insert into
-- events, dead_letters and alerts. For events and dead letters "source" is the sending address; alerts
-- count against their agency and system with source ''. Views see inserts, not merged rows: a batch
-- stored twice (a redelivery) is counted twice here, while the tables themselves deduplicate. The
-- rollups are for coverage and rates; exact counts come from the tables with FINAL.

CREATE TABLE IF NOT EXISTS {db}.monitoring_minute
(
    minute DateTime('UTC'),
    agency LowCardinality(String),
    system LowCardinality(String),
    source String,
    events SimpleAggregateFunction(sum, UInt64),
    bytes SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    alerts SimpleAggregateFunction(sum, UInt64),
    last_seen SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (agency, system, source, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.monitoring_events_mv TO {db}.monitoring_minute AS
SELECT
    toStartOfMinute(received_at) AS minute, agency, system, source_ip AS source,
    toUInt64(count()) AS events, toUInt64(sum(length(raw))) AS bytes,
    toUInt64(0) AS errors, toUInt64(0) AS alerts, max(received_at) AS last_seen
FROM {db}.events
GROUP BY minute, agency, system, source;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.monitoring_dead_mv TO {db}.monitoring_minute AS
SELECT
    toStartOfMinute(received_at) AS minute, agency, '' AS system, source_ip AS source,
    toUInt64(0) AS events, toUInt64(sum(length(raw))) AS bytes,
    toUInt64(count()) AS errors, toUInt64(0) AS alerts, max(received_at) AS last_seen
FROM {db}.dead_letters
GROUP BY minute, agency, system, source;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.monitoring_alerts_mv TO {db}.monitoring_minute AS
SELECT
    toStartOfMinute(detected_at) AS minute, agency, system, '' AS source,
    toUInt64(0) AS events, toUInt64(0) AS bytes, toUInt64(0) AS errors, toUInt64(count()) AS alerts,
    toDateTime64(0, 6, 'UTC') AS last_seen
FROM {db}.alerts
GROUP BY minute, agency, system, source;
