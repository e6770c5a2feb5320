-- The relay: e-mail verification codes and accepted submissions. Portable SQL.

-- A code sent to a citizen's address. The address and the code are stored only as HMACs
-- under the server's secret: the table cannot be read back into addresses or codes.
CREATE TABLE verification_codes (
    id TEXT PRIMARY KEY,
    address_hmac TEXT NOT NULL,
    form_slug TEXT NOT NULL,
    code_hmac TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX verification_codes_by_address ON verification_codes (address_hmac, created_at);

-- An accepted message. The mail (ciphertext wrapped as S/MIME) waits in the queue folder
-- under the receipt number until it is delivered; `citizen_address` (the verified address,
-- for the receipt and the failure notice) is cleared once it is no longer needed.
CREATE TABLE submissions (
    receipt TEXT PRIMARY KEY,
    status_token_hash TEXT NOT NULL UNIQUE,
    form_slug TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    message_id TEXT NOT NULL,
    mail_bytes BIGINT NOT NULL,
    citizen_address TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    accepted_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX submissions_due ON submissions (state, next_attempt_at);

-- Outbox mails (codes, receipts, notices, warnings) are retried with backoff like submissions.
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
