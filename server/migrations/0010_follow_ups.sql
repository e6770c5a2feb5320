-- The conversation a submission belongs to: the one it opened, or the one it continues
-- (a message written again from the status page, signed with the conversation's key).
ALTER TABLE submissions ADD COLUMN conversation_alias TEXT;
UPDATE submissions SET conversation_alias =
    (SELECT alias FROM conversations WHERE conversations.receipt = submissions.receipt);
CREATE INDEX submissions_by_conversation ON submissions (conversation_alias, accepted_at);
