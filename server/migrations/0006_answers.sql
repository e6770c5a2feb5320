-- Answers: a conversation per message whose citizen asked for answers. Its certificate
-- (the answers CA's, for the alias `antwort-<alias>@<answer domain>` and the key born in
-- the citizen's browser) is issued against a verification token; it stays pending until
-- a submission naming it is accepted, then the alias takes answers until `ends_at`.
CREATE TABLE conversations (
    alias TEXT PRIMARY KEY,
    -- The certificate's serial number, lower-case hex, for the CRL.
    serial TEXT NOT NULL UNIQUE,
    form_slug TEXT NOT NULL,
    -- SHA-256 of the verification token it was issued against.
    token_hash TEXT NOT NULL,
    -- The verified address the notices go to, kept until the conversation ends.
    citizen_address TEXT NOT NULL,
    certificate BLOB NOT NULL,
    issued_at BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    -- Without a submission by then, the certificate is revoked.
    pending_until BIGINT NOT NULL,
    -- The submission that opened it, and when it ends.
    receipt TEXT,
    ends_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX conversations_by_token ON conversations (token_hash, form_slug);
CREATE INDEX conversations_revoked ON conversations (revoked_at, not_after);
