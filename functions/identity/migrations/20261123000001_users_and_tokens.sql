-- Identity schema, one file for PostgreSQL (search_path = identity) and SQLite.
-- Portable types (one set of queries through sqlx's Any driver):
-- ids are UUID strings, instants are microseconds since the Unix epoch.
CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    display_name        TEXT NOT NULL DEFAULT '',
    password_hash       TEXT NOT NULL,
    email_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    password_changed_at BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    deleted_at          BIGINT,
    version             BIGINT NOT NULL DEFAULT 1
);

-- An email belongs to at most one active user; a deleted user's email can be reused.
CREATE UNIQUE INDEX users_email_active ON users (email) WHERE deleted_at IS NULL;

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX tokens_user_kind ON tokens (user_id, kind) WHERE used_at IS NULL;
