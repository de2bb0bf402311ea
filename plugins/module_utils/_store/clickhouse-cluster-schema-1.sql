-- whotouched.server_audit: the ClickHouse event store, schema 1, for a cluster.
-- ${database}: the processor's store.database; ${cluster}: its store.cluster, a cluster of
-- the servers' remote_servers with ZooKeeper (or ClickHouse Keeper) for the replicated
-- tables and ON CLUSTER statements; the macros {shard} and {replica} come from each server's
-- configuration.  Each table is a replicated local table (*_local) on every server, and a
-- distributed table of the same name as the one-server form's: the processors and
-- audit_report ask and write the distributed tables with the same queries.  Runs on
-- ClickHouse 18.16 and on current releases; may run again (creates only what is missing).

CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER ${cluster};

CREATE TABLE IF NOT EXISTS ${database}.events_local ON CLUSTER ${cluster} (
    day Date,
    arrived Float64,
    seq UInt64,
    writer String,
    epoch Float64,
    timed UInt8,
    serial UInt64,
    ident UInt64,
    kind String,
    host String,
    address String,
    login_user String,
    user String,
    account String,
    target_account String,
    session Nullable(Int64),
    keys Array(String),
    level UInt8,
    ruleset String,
    text String,
    body String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${database}/events', '{replica}')
PARTITION BY day
ORDER BY (address, epoch, serial)
SETTINGS index_granularity = 8192;

-- a sender's events on one shard: a question about one host asks every shard, answered by one
CREATE TABLE IF NOT EXISTS ${database}.events ON CLUSTER ${cluster}
AS ${database}.events_local
ENGINE = Distributed(${cluster}, ${database}, events_local, cityHash64(address));

CREATE TABLE IF NOT EXISTS ${database}.writers_local ON CLUSTER ${cluster} (
    writer String,
    committed UInt64,
    resume String,
    seen UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${database}/writers',
                                        '{replica}', committed)
ORDER BY writer;

CREATE TABLE IF NOT EXISTS ${database}.writers ON CLUSTER ${cluster}
AS ${database}.writers_local
ENGINE = Distributed(${cluster}, ${database}, writers_local, cityHash64(writer));
