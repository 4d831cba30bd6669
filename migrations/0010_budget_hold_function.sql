-- The dispatcher's budget check in one round trip (it was a transaction of five statements), and the
-- project row locked only for a project that has a budget: requests of projects without one no
-- longer queue behind each other's transactions.
--
-- Records the request's estimate; for a project with a budget, locks the project row, compares spend,
-- holds and the estimate, and holds the estimate when it fits. Returns one row when the request is
-- refused (the figures the refusal names), none when it may go ahead (also for an unknown project, and
-- for a redelivery of a request already holding its estimate).
CREATE FUNCTION hold_budget(p_request text, p_project text, p_estimate numeric)
RETURNS TABLE (budget text, spent text, held text)
LANGUAGE plpgsql AS $$
DECLARE
    v_budget numeric;
    v_spent  numeric;
    v_held   numeric;
BEGIN
    UPDATE requests SET estimated_cost_usd = p_estimate WHERE id = p_request;
    PERFORM 1 FROM projects p WHERE p.id = p_project AND p.budget_usd IS NOT NULL;
    IF NOT FOUND THEN RETURN; END IF;
    SELECT p.budget_usd, p.spent_usd INTO v_budget, v_spent FROM projects p WHERE p.id = p_project FOR UPDATE;
    IF v_budget IS NULL THEN RETURN; END IF;  -- the budget was removed meanwhile
    IF EXISTS (SELECT 1 FROM budget_holds h WHERE h.request_id = p_request) THEN RETURN; END IF;
    SELECT coalesce(sum(h.amount_usd), 0) INTO v_held FROM budget_holds h WHERE h.project_id = p_project;
    IF v_spent + v_held + p_estimate > v_budget THEN
        RETURN QUERY SELECT v_budget::text, v_spent::text, v_held::text;
        RETURN;
    END IF;
    INSERT INTO budget_holds (request_id, project_id, amount_usd) VALUES (p_request, p_project, p_estimate)
    ON CONFLICT DO NOTHING;
END $$;
