-- What other services must stop accepting: access tokens ("token:<jti>") and sessions
-- ("session:<sid>"), until the last token they could match has expired. Numbered by a
-- one-row counter taken in each writer's transaction, so numbers commit in order and a
-- reader that has seen n has seen everything before it.
CREATE TABLE revocations (
    seq        BIGINT PRIMARY KEY,
    key        TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE revocation_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);

INSERT INTO revocation_seq (id, value) VALUES (1, 0);
