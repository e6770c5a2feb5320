-- Why a submission failed, as data: `refused` (the mail server refused it for good),
-- `timed_out` (not delivered within the delivery deadline) or `lost` (the queued mail
-- could not be read). `last_error` keeps the mail server's words for people.
ALTER TABLE submissions ADD COLUMN failure_kind TEXT;
UPDATE submissions SET failure_kind =
    CASE WHEN last_error LIKE 'not delivered within%' THEN 'timed_out' ELSE 'refused' END
    WHERE state = 'failed';
