-- Daily spend rollup: billing adds each batch's usage to its (day, project, model, provider) row in
-- the same statement that records the usage, so billing.daily_spend reads a few rows per day instead
-- of aggregating the ledger (1,000,000 ledger rows: 135 ms before, see docs/benchmarks.md).

CREATE TABLE usage_daily (
    day            date NOT NULL,
    project_id     text NOT NULL,
    model          text NOT NULL,
    provider       text NOT NULL,
    calls          bigint NOT NULL,
    input_tokens   bigint NOT NULL,
    output_tokens  bigint NOT NULL,
    device_nanos   bigint NOT NULL,
    cost_usd       numeric(20, 9) NOT NULL,
    PRIMARY KEY (project_id, day, model, provider)
);

INSERT INTO usage_daily
SELECT (occurred_at AT TIME ZONE 'UTC')::date, project_id, model, provider, count(*), sum(prompt_tokens),
       sum(completion_tokens), sum(device_nanos), coalesce(sum(cost_usd), 0)
FROM usage_events WHERE billable
GROUP BY 1, 2, 3, 4;

DROP VIEW billing.daily_spend;
CREATE VIEW billing.daily_spend AS
SELECT day, project_id AS project, model, provider, calls, input_tokens, output_tokens,
       device_nanos::numeric / 1000000000 AS gpu_seconds, cost_usd
FROM public.usage_daily;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus_billing') THEN
        GRANT SELECT ON billing.daily_spend TO chorus_billing;
    END IF;
END $$;
