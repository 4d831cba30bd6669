-- Live service instances, for `chorus status`: each instance upserts its row every few seconds and
-- deletes it on a clean shutdown; a row whose last_seen is old belongs to an instance that died.
-- namespace is the Kafka topic namespace (CHORUS_KAFKA_NAMESPACE), so parallel pipelines sharing one
-- database (tests) see only their own services.
CREATE TABLE service_heartbeats (
    instance_id   text PRIMARY KEY,
    namespace     text NOT NULL,
    service       text NOT NULL,
    host          text NOT NULL,
    pid           integer NOT NULL,
    metrics_port  integer,
    started_at    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_heartbeats_namespace ON service_heartbeats (namespace, service);
