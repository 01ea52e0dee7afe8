-- Multi-factor authentication. Portable SQL (PostgreSQL and SQLite); instants in µs.

-- How each session's user authenticated (RFC 8176 values, space-separated), carried into
-- every access token the session gets.
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- A user's TOTP secret, sealed with the key-encryption key. In force once confirmed.
CREATE TABLE mfa_totp (
    user_id       TEXT PRIMARY KEY,
    sealed_secret TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    -- The last time step a code was accepted for: a code is good once.
    last_step     BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, by keyed hash only.
CREATE TABLE mfa_recovery_codes (
    user_id TEXT NOT NULL,
    hash    TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, hash)
);

-- Logins waiting for their second factor, by hash only; single use.
CREATE TABLE mfa_challenges (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
