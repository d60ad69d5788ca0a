-- citysoc ClickHouse schema, version 001 (initial).
--
-- File format (read by citysoc.store.clickhouse.ClickHouseStore.migrate):
--   * the file name starts with the schema version number (001_init.sql -> version 1);
--     versions are applied in order and recorded in {db}.schema_migrations;
--   * statements end with ';' as the last character of a line (no other line may end with ';');
--   * '{db}' is replaced by the database name (StoreSettings.database), which must be a plain
--     identifier ([A-Za-z_][A-Za-z0-9_]*) and is back-quoted on substitution;
--   * every statement is idempotent (IF NOT EXISTS), so a partly applied file can be re-run.
--
-- Deduplication: all tables are ReplacingMergeTree. Inserting a row again with the same sorting key
-- leaves one logical row (the last inserted, or the highest version for watermarks) once parts merge;
-- readers use FINAL so they see deduplicated rows before that. Every sorting key column is a
-- deterministic function of the row id, so duplicates of one id always share the key.
-- Times are DateTime64(6, 'UTC'): microseconds, like Python datetimes.

CREATE DATABASE IF NOT EXISTS {db};

CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version;

-- One row per event envelope (citysoc.core.event.Event).
-- raw holds the received bytes exactly (String is a byte string); fields is the JSON text of the
-- parsed fields, for an exact round trip; field_map has every field as text (strings verbatim,
-- null as '', anything else as JSON) for queries such as field_map['EventID'] = '4624'.
-- Logsource hints are '' when unknown.
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id UUID,
    received_at DateTime64(6, 'UTC'),
    event_time DateTime64(6, 'UTC'),
    agency LowCardinality(String),
    system LowCardinality(String),
    source_host String,
    source_ip String,
    transport LowCardinality(String),
    format LowCardinality(String),
    ls_product LowCardinality(String),
    ls_service LowCardinality(String),
    ls_category LowCardinality(String),
    raw String CODEC(ZSTD(3)),
    fields String CODEC(ZSTD(3)),
    field_map Map(String, String) CODEC(ZSTD(3)),
    collector LowCardinality(String),
    attributed Bool,
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(received_at)
ORDER BY (agency, system, source_host, event_time, event_id);

-- One row per alert (citysoc.core.alert.Alert). The key starts with rule_id, which is part of the
-- alert id hash, so duplicates of one alert always share it; agency and time filters use skip indexes.
-- extra is the JSON text of Alert.extra.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id String,
    rule_id LowCardinality(String),
    title String,
    level LowCardinality(String),
    rule_status LowCardinality(String),
    tags Array(String),
    agency LowCardinality(String),
    system LowCardinality(String),
    host String,
    event_ids Array(String),
    matched_fields Map(String, String),
    time DateTime64(6, 'UTC'),
    detected_at DateTime64(6, 'UTC'),
    kind LowCardinality(String),
    extra String,
    INDEX idx_detected_at detected_at TYPE minmax GRANULARITY 1,
    INDEX idx_agency agency TYPE set(0) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
ORDER BY (rule_id, alert_id);

-- Input that could not become an event (citysoc.core.deadletter.DeadLetter), raw bytes exact.
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    dead_id String,
    received_at DateTime64(6, 'UTC'),
    agency LowCardinality(String),
    source_ip String,
    transport LowCardinality(String),
    reason LowCardinality(String),
    detail String,
    raw String CODEC(ZSTD(3)),
    collector LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY dead_id;

-- Named progress markers. The row with the highest version (the newest write) wins.
CREATE TABLE IF NOT EXISTS {db}.watermarks
(
    name String,
    value DateTime64(6, 'UTC'),
    version UInt64,
    updated_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name;
