-- The catalog's items (portable SQL: PostgreSQL and SQLite share it).
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
