-- The status page of the message that opened a conversation: the notice "an answer
-- arrived" links it. Kept with the conversation, and gone with it.
ALTER TABLE conversations ADD COLUMN status_url TEXT;
