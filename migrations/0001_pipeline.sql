-- The stored trail of every request: prompt, model calls, responses, verdict, answer, usage.
-- Every table is keyed so that a redelivered message changes nothing (INSERT ... ON CONFLICT DO NOTHING).

CREATE TABLE projects (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    display_name  text,
    -- Spend limit in US dollars; NULL means no limit.
    budget_usd    numeric(20, 9) CHECK (budget_usd >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projects (id, display_name) VALUES ('default', 'Default project');

CREATE TABLE requests (
    id            text PRIMARY KEY,
    project_id    text NOT NULL REFERENCES projects (id),
    mode          text NOT NULL CHECK (mode IN ('best-of', 'merge', 'debate', 'vote')),
    preset        text,
    pool          text[] NOT NULL,
    judge         text,
    options       jsonb NOT NULL,
    messages      jsonb NOT NULL,
    -- SHA-256 of the submitted content: the same id with other content is refused, not merged.
    content_hash  bytea NOT NULL,
    trace_parent  text,
    accepted_at   timestamptz NOT NULL DEFAULT now(),
    deadline_at   timestamptz NOT NULL
);
CREATE INDEX requests_project_accepted ON requests (project_id, accepted_at);
CREATE INDEX requests_deadline ON requests (deadline_at);

CREATE TABLE calls (
    id             text PRIMARY KEY,               -- <request id>/<role>/<round>/<index>
    request_id     text NOT NULL REFERENCES requests (id),
    role           text NOT NULL CHECK (role IN ('pool', 'debate', 'judge')),
    round          integer NOT NULL CHECK (round >= 0),
    idx            integer NOT NULL CHECK (idx >= 0),
    model          text NOT NULL,
    provider       text,                           -- a pinned provider, if any
    target         text NOT NULL CHECK (target IN ('remote', 'local')),
    dispatched_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_request ON calls (request_id);

CREATE TABLE responses (
    call_id               text PRIMARY KEY REFERENCES calls (id),
    request_id            text NOT NULL,
    model                 text NOT NULL,
    provider              text,
    content               text,
    error_code            text,
    error_message         text,
    finish_reason         text,
    latency_ms            bigint NOT NULL CHECK (latency_ms >= 0),
    prompt_tokens         integer NOT NULL DEFAULT 0,
    completion_tokens     integer NOT NULL DEFAULT 0,
    cached_prompt_tokens  integer NOT NULL DEFAULT 0,
    device_nanos          bigint,
    cold_start            boolean,
    attempts              integer NOT NULL DEFAULT 1,
    received_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((content IS NULL) <> (error_code IS NULL))
);
CREATE INDEX responses_request ON responses (request_id);

CREATE TABLE judgments (
    request_id   text PRIMARY KEY REFERENCES requests (id),
    method       text NOT NULL CHECK (method IN ('judge', 'fallback', 'majority')),
    chosen       integer,
    judge_model  text,
    rationale    text,
    -- The judge's reply exactly as received, so a fallback can be audited.
    raw_verdict  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Exactly one answer per request. No foreign key: a rejected request may never have been recorded
-- (it could not be decoded or named an unknown project).
CREATE TABLE answers (
    request_id     text PRIMARY KEY,
    project_id     text,
    status         text NOT NULL CHECK (status IN ('ok', 'partial', 'failed', 'rejected')),
    answer         text,
    error_code     text,
    error_message  text,
    latency_ms     bigint NOT NULL,
    payload        jsonb NOT NULL,                 -- the Answer as published on chorus.answers
    answered_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answers_project_answered ON answers (project_id, answered_at);

-- One row per model call attempt that reached a provider or a local model.
CREATE TABLE usage_events (
    event_id              text PRIMARY KEY,        -- <call id>#<attempt>
    request_id            text NOT NULL,
    project_id            text NOT NULL,
    call_id               text NOT NULL,
    role                  text NOT NULL CHECK (role IN ('pool', 'debate', 'judge')),
    round                 integer NOT NULL,
    model                 text NOT NULL,
    provider              text NOT NULL,
    prompt_tokens         integer NOT NULL DEFAULT 0,
    completion_tokens     integer NOT NULL DEFAULT 0,
    cached_prompt_tokens  integer NOT NULL DEFAULT 0,
    device_nanos          bigint NOT NULL DEFAULT 0,
    billable              boolean NOT NULL,
    occurred_at           timestamptz NOT NULL,
    recorded_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_project_occurred ON usage_events (project_id, occurred_at);
CREATE INDEX usage_events_request ON usage_events (request_id);
