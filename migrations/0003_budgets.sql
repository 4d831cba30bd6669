-- Budgets: a running spend per project (kept by billing in the same statement that records usage),
-- and holds: the estimated cost of each request in flight, so that concurrent requests cannot
-- jointly overspend by more than the calls already in flight.

ALTER TABLE projects ADD COLUMN spent_usd numeric(20, 9) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0);
UPDATE projects p
SET spent_usd = coalesce((SELECT sum(u.cost_usd) FROM usage_events u WHERE u.project_id = p.id AND u.billable), 0);

CREATE TABLE budget_holds (
    request_id  text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    amount_usd  numeric(20, 9) NOT NULL CHECK (amount_usd >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budget_holds_project ON budget_holds (project_id);

ALTER TABLE requests ADD COLUMN estimated_cost_usd numeric(20, 9);

DROP VIEW billing.project_budgets;
CREATE VIEW billing.project_budgets AS
SELECT p.id AS project, p.budget_usd, p.spent_usd,
       coalesce((SELECT sum(h.amount_usd) FROM public.budget_holds h WHERE h.project_id = p.id), 0) AS held_usd,
       p.budget_usd - p.spent_usd AS remaining_usd,
       CASE WHEN p.budget_usd > 0 THEN round(100 * p.spent_usd / p.budget_usd, 2) END AS used_percent
FROM public.projects p;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus_billing') THEN
        GRANT SELECT ON billing.project_budgets TO chorus_billing;
    END IF;
END $$;
