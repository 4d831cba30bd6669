-- The usage events of a response, recorded with it: a worker that dies after recording a response but
-- before publishing its usage re-sends them when the call is redelivered or the request resumed
-- (billing drops repeats by event id), so no call goes unbilled.
ALTER TABLE responses ADD COLUMN usage_events jsonb;
