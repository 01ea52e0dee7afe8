-- Auth schema, one file for PostgreSQL (search_path = auth) and SQLite.
-- Portable types (sqlx Any): instants are microseconds
-- since the Unix epoch.
CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    public_key         TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    retired_at         BIGINT
);

-- One row per login session; rotations add tokens, never extend expires_at.
CREATE TABLE refresh_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

-- Refresh tokens, by SHA-256 only.
CREATE TABLE refresh_tokens (
    hash      TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES refresh_families (id),
    issued_at BIGINT NOT NULL,
    used_at   BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Access tokens revoked by Logout, until they expire.
CREATE TABLE denied_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Failed logins per account and per client IP.
CREATE TABLE login_failures (
    key             TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT
);
