-- citysoc ClickHouse schema, version 003: the security level of each event's information system
-- (Decree 85/2016, 1-5; 0 when not classified), which decides how long the event is kept.
-- The TTL itself is not fixed here: retention days per level are configuration
-- (StoreSettings.retention_days), applied by ClickHouseStore.migrate() on every start with
-- ALTER TABLE ... MODIFY TTL, so a policy change takes effect without a schema version.

ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS security_level UInt8 DEFAULT 0 AFTER attributed;
