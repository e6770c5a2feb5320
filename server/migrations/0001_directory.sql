-- The authority directory. Portable SQL (SQLite now, PostgreSQL later): natural keys, no
-- engine-specific types or autoincrement.

CREATE TABLE authorities (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    street TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    place TEXT NOT NULL,
    website TEXT,
    phone TEXT,
    central_mailbox TEXT,
    representative TEXT,
    content_responsible TEXT,
    data_protection_officer TEXT,
    vat_id TEXT,
    activated BOOLEAN NOT NULL,
    -- FormPolicy as JSON: attachment types, mailbox limit, verification, embedding, algorithms.
    policy TEXT NOT NULL
);

CREATE TABLE units (
    authority_slug TEXT NOT NULL REFERENCES authorities (slug) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    mailbox TEXT,
    phone TEXT,
    PRIMARY KEY (authority_slug, slug)
);

-- Certificates by mailbox, several over time (renewal overlap); `source` says who put them
-- here ('import' or 'ldap'), so that each source replaces only its own.
CREATE TABLE certificates (
    mailbox TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    der BLOB NOT NULL,
    not_after BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (mailbox, fingerprint)
);
