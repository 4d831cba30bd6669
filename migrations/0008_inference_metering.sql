-- gpu-inference's serverless metering on each local call's usage row (NULL for remote calls).
ALTER TABLE usage_events
    ADD COLUMN wall_ms        bigint CHECK (wall_ms >= 0),
    ADD COLUMN queue_wait_ms  bigint CHECK (queue_wait_ms >= 0),
    ADD COLUMN start_tier     text CHECK (start_tier IN ('warm', 'snapshot', 'disk'));
