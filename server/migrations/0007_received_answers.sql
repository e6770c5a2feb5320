-- Answers received for a conversation's alias: the whole mail waits, encrypted, in
-- `<data_dir>/answers/received/<id>.eml` for the citizen's browser. `replay_key` is the mail's
-- Message-ID (or, without one, the SHA-256 of the mail): the same answer twice is dropped.
CREATE TABLE received_answers (
    id TEXT PRIMARY KEY,
    alias TEXT NOT NULL REFERENCES conversations (alias),
    replay_key TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    -- The SMTP client (or the one before the portal's MX), its HELO and the reverse path.
    client_ip TEXT NOT NULL,
    helo TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    -- Whether DKIM or SPF vouched for the authority's mailbox domain (1), or not (0).
    verified INTEGER NOT NULL,
    opened_at BIGINT,
    UNIQUE (alias, replay_key)
);
