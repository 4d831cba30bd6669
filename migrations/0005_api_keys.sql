-- API keys for the HTTP front door: random, shown once, stored as SHA-256 only.
-- A key reads `chorus_<key id>_<secret>`; the key id finds the row, the hash of the whole key is
-- compared in constant time.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    key_hash    bytea NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id);

-- Wakes the HTTP front door's waiters when an answer is recorded.
CREATE FUNCTION notify_answer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chorus_answers', NEW.request_id);
    RETURN NEW;
END $$;
CREATE TRIGGER answers_notify AFTER INSERT ON answers FOR EACH ROW EXECUTE FUNCTION notify_answer();
