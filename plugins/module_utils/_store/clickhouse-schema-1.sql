-- whotouched.server_audit: the ClickHouse event store, schema 1, for one ClickHouse server.
-- ${database} is the processor's store.database (default whotouched).  Every statement runs on
-- ClickHouse 18.16 (Debian's package) and on current releases, and may run again: it creates
-- only what is missing.  The cluster form is clickhouse-cluster-schema-1.sql.

CREATE DATABASE IF NOT EXISTS ${database};

-- One row per event.  The names a question filters on ('' when the event has none), the
-- text a search looks through (lower case), the whole event as JSON (keys whose value is null
-- left out).  Ordered by sender and time: a question about one host reads that host's rows,
-- and a replayed event is looked up by (address, epoch, serial).  One partition per UTC day
-- of arrival: retention drops whole days (18.16 has no TTL).
CREATE TABLE IF NOT EXISTS ${database}.events (
    day Date,                     -- UTC day of arrival at the log server
    arrived Float64,              -- arrival at the log server, epoch seconds
    seq UInt64,                   -- the order its writer stored it in (nanoseconds)
    writer String,                -- the log server's processor that stored it
    epoch Float64,                -- when it happened (sender's clock), 0 when unknown
    timed UInt8,                  -- 1 when epoch is known
    serial UInt64,                -- audit record serial, 0 for none
    ident UInt64,                 -- identity of the event (what makes a replay a duplicate)
    kind String,
    host String,
    address String,
    login_user String,
    user String,
    account String,
    target_account String,
    session Nullable(Int64),
    keys Array(String),
    level UInt8,                  -- 0 info .. 4 critical, by the rules of ruleset
    ruleset String,               -- fingerprint of the rules that classified it
    text String,                  -- what a free-text search looks through, lower case
    body String                   -- the event, JSON
) ENGINE = MergeTree
PARTITION BY day
ORDER BY (address, epoch, serial)
SETTINGS index_granularity = 8192;

-- Where each log server's processor resumes after a restart, and how many events it stored.
-- One row per commit; the newest (committed) is the one in force.
CREATE TABLE IF NOT EXISTS ${database}.writers (
    writer String,
    committed UInt64,
    resume String,                -- JSON
    seen UInt64
) ENGINE = ReplacingMergeTree(committed)
ORDER BY writer;
