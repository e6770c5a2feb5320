-- When the citizen was reminded that the conversation's unread answers will be deleted.
ALTER TABLE conversations ADD COLUMN reminded_at BIGINT;
