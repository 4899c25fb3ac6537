-- Telemetry ingest: a redelivered bad message (the broker redelivers what was not acknowledged
-- before a crash) must not add a second dead letter. The key is sha256(topic, payload, reason).
ALTER TABLE telemetry_dead_letters ADD COLUMN dedup_key text;
ALTER TABLE telemetry_dead_letters ADD CONSTRAINT telemetry_dead_letters_dedup_key UNIQUE (dedup_key);
-- The device id named in the topic (vehicles.mqtt_id or the OwnTracks device), for triage.
ALTER TABLE telemetry_dead_letters ADD COLUMN device text;
CREATE INDEX telemetry_dead_letters_reason ON telemetry_dead_letters (reason, received_at);
