-- citysoc ClickHouse schema, version 004: persisted state of stateful stream stages.
-- One logical row per name (e.g. "correlation/<group>/<topic>/<partition>"): the stage's state as
-- text (a versioned JSON snapshot) and the position it corresponds to (the consumer offset after the
-- last input the state includes, or another increasing number). The highest position wins, so a stale
-- writer that lost its partition to a rebalance cannot roll a newer state back.

CREATE TABLE IF NOT EXISTS {db}.worker_state
(
    name String,
    position UInt64,
    data String CODEC(ZSTD(3)),
    updated_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(position)
ORDER BY name;
