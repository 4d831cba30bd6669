-- Requests still waiting for their answer, for the reconciler (Services/Dispatcher/Library/Reconciler.swift).
-- Ingest adds a row in the statement that records the request; recording the answer removes it (a
-- trigger), so the reconciler's scan reads only the few requests in flight, never the whole history.
CREATE TABLE open_requests (
    request_id     text PRIMARY KEY REFERENCES requests (id),
    -- The Kafka namespace whose pipeline owns the request (several pipelines may share a database).
    namespace      text NOT NULL,
    -- How long the request may take in all (pool, debate rounds, judge), in milliseconds.
    span_ms        bigint NOT NULL CHECK (span_ms >= 0),
    -- When the reconciler looks at it next (plus its grace): first its deadline, then after each resume.
    next_check_at  timestamptz NOT NULL,
    resumes        integer NOT NULL DEFAULT 0
);
CREATE INDEX open_requests_due ON open_requests (namespace, next_check_at);

CREATE FUNCTION close_open_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM open_requests WHERE request_id = NEW.request_id;
    RETURN NEW;
END $$;
CREATE TRIGGER answers_close_open_request AFTER INSERT ON answers FOR EACH ROW EXECUTE FUNCTION close_open_request();
