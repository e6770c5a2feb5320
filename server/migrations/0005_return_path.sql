-- The return path: every relayed mail and every outbox mail goes out with an envelope
-- sender of its own (`r-<return_token>@<return domain>`), so that a bounce names its
-- message without parsing; the token is random (128 bits), not derived from anything.
ALTER TABLE submissions ADD COLUMN return_token TEXT;
CREATE UNIQUE INDEX submissions_by_return_token ON submissions (return_token);
ALTER TABLE outbox ADD COLUMN return_token TEXT;
CREATE UNIQUE INDEX outbox_by_return_token ON outbox (return_token);

-- What a report said after hand-over: `delayed`, `received`, `opened`, `deleted` (the
-- state turns `bounced` for a failure), when, the reporter's words, and whether DKIM or
-- SPF vouched for the reporter (1) or not (0).
ALTER TABLE submissions ADD COLUMN report_kind TEXT;
ALTER TABLE submissions ADD COLUMN report_at BIGINT;
ALTER TABLE submissions ADD COLUMN report_detail TEXT;
ALTER TABLE submissions ADD COLUMN report_verified INTEGER;
-- The citizen's address stays after hand-over until a final report or this moment.
ALTER TABLE submissions ADD COLUMN address_until BIGINT;
-- Whether the citizen asked for a confirmation of receipt (an MDN).
ALTER TABLE submissions ADD COLUMN receipt_requested INTEGER NOT NULL DEFAULT 0;

-- A verification code whose mail bounced: the form tells the citizen.
ALTER TABLE verification_codes ADD COLUMN bounced_at BIGINT;

-- Mail the listener took (a report, a bounce, anything to a return address). The message
-- waits in `<data_dir>/inbound/<id>.eml` until it is read; then only the outcome stays.
CREATE TABLE inbound (
    id TEXT PRIMARY KEY,
    return_token TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    helo TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    -- none until read; then `applied`, `noted`, `duplicate` or why it was dropped.
    outcome TEXT,
    processed_at BIGINT
);
CREATE INDEX inbound_unread ON inbound (processed_at, received_at);
