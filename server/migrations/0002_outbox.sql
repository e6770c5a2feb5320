-- Mails the server owes someone (expiry warnings now; receipts and notices with the relay).
-- `id` says what the mail is about, so that each is recorded once however often it is
-- considered; the relay's worker sends those without `sent_at`.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
