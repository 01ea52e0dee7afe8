-- The outbox, as every emitting service creates it.
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    topic      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    event      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT
);
CREATE INDEX outbox_pending ON outbox (sent_at, id);
