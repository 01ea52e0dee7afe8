-- The audit log. Portable SQL (PostgreSQL and SQLite); instants in µs since the epoch.

-- One row per record, numbered without gaps; the hashes chain them.
CREATE TABLE audit_records (
    sequence      BIGINT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    occurred_at   BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource      TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    client_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_records_actor ON audit_records (actor, sequence);
CREATE INDEX audit_records_action ON audit_records (action, sequence);
CREATE INDEX audit_records_resource ON audit_records (resource, sequence);
CREATE INDEX audit_records_time ON audit_records (occurred_at);

-- The end of the chain: every append moves it with a compare-and-set, so appends are
-- serialized (no two records with one sequence, no fork) whatever the number of writers.
CREATE TABLE audit_head (
    id       INTEGER PRIMARY KEY,
    sequence BIGINT NOT NULL,
    hash     TEXT NOT NULL
);
INSERT INTO audit_head (id, sequence, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
