-- The usage ledger: effective-dated prices that are never overwritten, an exact cost on every usage
-- row (numeric, computed from integer nano-dollars), and the `billing` schema users query.

CREATE TABLE prices (
    id                        bigserial PRIMARY KEY,
    model                     text NOT NULL,
    provider                  text NOT NULL,        -- 'local' for gpu-inference models
    input_per_million         numeric(20, 9) NOT NULL DEFAULT 0 CHECK (input_per_million >= 0),
    cached_input_per_million  numeric(20, 9) NOT NULL DEFAULT 0 CHECK (cached_input_per_million >= 0),
    output_per_million        numeric(20, 9) NOT NULL DEFAULT 0 CHECK (output_per_million >= 0),
    per_device_second         numeric(20, 9) NOT NULL DEFAULT 0 CHECK (per_device_second >= 0),
    effective_from            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model, provider, effective_from)
);

-- A price change adds a row; history is never rewritten.
CREATE FUNCTION prices_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'prices are append-only: add a row with a later effective_from instead';
END $$;
CREATE TRIGGER prices_append_only BEFORE UPDATE OR DELETE ON prices
    FOR EACH ROW EXECUTE FUNCTION prices_are_append_only();

ALTER TABLE usage_events
    ADD COLUMN price_id bigint REFERENCES prices (id),
    ADD COLUMN cost_usd numeric(20, 9) CHECK (cost_usd >= 0);

-- Spend per project and day without a sort of the whole ledger.
CREATE INDEX usage_events_project_day ON usage_events (project_id, ((occurred_at AT TIME ZONE 'UTC')::date));

CREATE SCHEMA billing;

-- Every model call attempt, with what it cost (failed attempts appear with billable = false).
CREATE VIEW billing.usage AS
SELECT event_id, request_id, project_id AS project, call_id, role, round, model, provider,
       prompt_tokens AS input_tokens, cached_prompt_tokens AS cached_input_tokens, completion_tokens AS output_tokens,
       device_nanos::numeric / 1000000000 AS gpu_seconds, billable, coalesce(cost_usd, 0) AS cost_usd, price_id, occurred_at
FROM public.usage_events;

CREATE VIEW billing.daily_spend AS
SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, project_id AS project, model, provider,
       count(*) AS calls, sum(prompt_tokens) AS input_tokens, sum(completion_tokens) AS output_tokens,
       sum(device_nanos)::numeric / 1000000000 AS gpu_seconds, coalesce(sum(cost_usd), 0) AS cost_usd
FROM public.usage_events
WHERE billable
GROUP BY (occurred_at AT TIME ZONE 'UTC')::date, project_id, model, provider;

-- Per request: the pool's cost and the fusion overhead (judge and debate rounds) beside it.
CREATE VIEW billing.request_costs AS
SELECT r.id AS request_id, r.project_id AS project, r.mode,
       coalesce(sum(u.cost_usd) FILTER (WHERE u.role = 'pool'), 0) AS pool_cost_usd,
       coalesce(sum(u.cost_usd) FILTER (WHERE u.role = 'judge'), 0) AS judge_cost_usd,
       coalesce(sum(u.cost_usd) FILTER (WHERE u.role = 'debate'), 0) AS debate_cost_usd,
       coalesce(sum(u.cost_usd) FILTER (WHERE u.role <> 'pool'), 0) AS fusion_overhead_usd,
       coalesce(sum(u.cost_usd), 0) AS total_cost_usd,
       r.accepted_at AS created_at
FROM public.requests r
LEFT JOIN public.usage_events u ON u.request_id = r.id AND u.billable
GROUP BY r.id, r.project_id, r.mode, r.accepted_at;

CREATE VIEW billing.top_requests AS
SELECT * FROM billing.request_costs ORDER BY total_cost_usd DESC, created_at DESC LIMIT 100;

CREATE VIEW billing.project_budgets AS
SELECT p.id AS project, p.budget_usd, coalesce(s.spent, 0) AS spent_usd,
       p.budget_usd - coalesce(s.spent, 0) AS remaining_usd,
       CASE WHEN p.budget_usd > 0 THEN round(100 * coalesce(s.spent, 0) / p.budget_usd, 2) END AS used_percent
FROM public.projects p
LEFT JOIN (SELECT project_id, sum(cost_usd) AS spent FROM public.usage_events WHERE billable GROUP BY project_id) s
       ON s.project_id = p.id;

CREATE VIEW billing.prices AS
SELECT id, model, provider, input_per_million, cached_input_per_million, output_per_million, per_device_second, effective_from
FROM public.prices;

-- The read-only billing role (created by the embedded stack; elsewhere create it first, see
-- docs/billing.md) reads these views and nothing else. `chorus init` repeats these grants.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus_billing') THEN
        GRANT USAGE ON SCHEMA billing TO chorus_billing;
        GRANT SELECT ON ALL TABLES IN SCHEMA billing TO chorus_billing;
    END IF;
END $$;
