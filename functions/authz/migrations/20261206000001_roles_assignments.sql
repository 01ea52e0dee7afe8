-- Authz schema, one file for PostgreSQL (search_path = authz) and SQLite. Portable types
-- (one set of queries through sqlx's Any driver): instants are microseconds since the Unix
-- epoch; a role's permissions are a JSON array of names and wildcards.
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL,
    built_in    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

INSERT INTO roles (name, description, permissions, built_in, created_at, updated_at)
VALUES ('admin', 'Every permission of every service.', '["*"]', TRUE, 0, 0);

-- An empty resource is a global assignment (an empty string, not NULL, so that the key is
-- unique on both backends).
CREATE TABLE assignments (
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    resource   TEXT NOT NULL DEFAULT '',
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role, resource)
);

CREATE INDEX assignments_role ON assignments (role, user_id, resource);

-- The revision counter: one row, incremented by every write in its own transaction. The row
-- lock serialises writers, so revisions commit in order and a reader that has seen
-- revision n has seen every change up to n.
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);

INSERT INTO revision (id, value) VALUES (1, 1);

-- What each revision changed, for the caches of every instance: a user's assignments
-- (user_id set) or a role, which touches all its holders (user_id NULL).
CREATE TABLE changes (
    revision   BIGINT PRIMARY KEY,
    user_id    TEXT,
    changed_at BIGINT NOT NULL
);
