-- Audit: idempotent findings (one per trip, rule and key), their review history, runs with
-- counts and a run log, and a jobs table the worker takes with FOR UPDATE SKIP LOCKED.
-- A trip reaching a final status (or a payment recorded for a finished trip) enqueues a job by
-- trigger, so nothing is lost while the worker is down; NOTIFY audit_jobs wakes a waiting worker.

-- Runs ------------------------------------------------------------------------------------------
ALTER TABLE audit_runs ALTER COLUMN period_from DROP NOT NULL;
ALTER TABLE audit_runs ALTER COLUMN period_to DROP NOT NULL;
ALTER TABLE audit_runs ADD COLUMN kind text NOT NULL DEFAULT 'batch'
    CHECK (kind IN ('batch', 'worker'));
ALTER TABLE audit_runs ADD COLUMN carrier_id bigint REFERENCES carriers(id);
ALTER TABLE audit_runs ADD COLUMN trips_failed integer NOT NULL DEFAULT 0;
ALTER TABLE audit_runs ADD COLUMN findings_new integer NOT NULL DEFAULT 0;
ALTER TABLE audit_runs ADD COLUMN findings_updated integer NOT NULL DEFAULT 0;
ALTER TABLE audit_runs ADD COLUMN findings_unchanged integer NOT NULL DEFAULT 0;
ALTER TABLE audit_runs ADD COLUMN findings_withdrawn integer NOT NULL DEFAULT 0;
ALTER TABLE audit_runs ADD COLUMN notes integer NOT NULL DEFAULT 0;
ALTER TABLE audit_runs ADD COLUMN duration_s double precision;

-- What a run could not use as it was (no fixes, out of order, missing plan, unknown object...).
CREATE TABLE audit_run_notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES audit_runs(id) ON DELETE CASCADE,
    trip_id     bigint REFERENCES trips(id),
    rule        text,
    code        text NOT NULL,
    message     text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_run_notes_run ON audit_run_notes (run_id);
CREATE INDEX audit_run_notes_trip ON audit_run_notes (trip_id);

-- Findings: one row per (trip, rule, key), updated in place by re-runs ---------------------------
ALTER TABLE audit_findings DROP CONSTRAINT audit_findings_trip_id_rule_run_id_key;
ALTER TABLE audit_findings DROP CONSTRAINT audit_findings_status_check;
DROP INDEX audit_findings_open;
UPDATE audit_findings SET status = 'new' WHERE status = 'open';
ALTER TABLE audit_findings ALTER COLUMN status SET DEFAULT 'new';
ALTER TABLE audit_findings ADD CONSTRAINT audit_findings_status_check
    CHECK (status IN ('new', 'confirmed', 'dismissed'));
ALTER TABLE audit_findings RENAME COLUMN run_id TO first_run_id;
ALTER TABLE audit_findings ADD COLUMN last_run_id bigint REFERENCES audit_runs(id);
ALTER TABLE audit_findings ADD COLUMN key text NOT NULL DEFAULT '';
ALTER TABLE audit_findings ADD COLUMN message text NOT NULL DEFAULT '';
ALTER TABLE audit_findings ADD COLUMN geometry jsonb;           -- GeoJSON, WGS 84
ALTER TABLE audit_findings ADD COLUMN at_stake_km double precision NOT NULL DEFAULT 0;
ALTER TABLE audit_findings ADD COLUMN at_stake_kop bigint NOT NULL DEFAULT 0;
ALTER TABLE audit_findings ADD COLUMN evidence_hash text NOT NULL DEFAULT '';
-- Set when a re-run changed the evidence of a finding that was already reviewed.
ALTER TABLE audit_findings ADD COLUMN evidence_changed_at timestamptz;
-- Set when a re-run no longer finds the violation (changed inputs); cleared if it comes back.
ALTER TABLE audit_findings ADD COLUMN withdrawn_at timestamptz;
ALTER TABLE audit_findings ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE audit_findings ADD CONSTRAINT audit_findings_trip_rule_key UNIQUE (trip_id, rule, key);
CREATE INDEX audit_findings_status ON audit_findings (status, created_at);
CREATE INDEX audit_findings_rule ON audit_findings (rule, created_at);

-- Review history: every transition with reviewer, time and comment -----------------------------
CREATE TABLE audit_reviews (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id      bigint NOT NULL REFERENCES audit_findings(id) ON DELETE CASCADE,
    from_status     text NOT NULL,
    to_status       text NOT NULL,
    reviewer_id     bigint NOT NULL REFERENCES users(id),
    at              timestamptz NOT NULL DEFAULT now(),
    comment         text NOT NULL,
    evidence_hash   text NOT NULL            -- the evidence the reviewer saw
);
CREATE INDEX audit_reviews_finding ON audit_reviews (finding_id, at);

-- Jobs ------------------------------------------------------------------------------------------
CREATE TABLE audit_jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trip_id         bigint NOT NULL REFERENCES trips(id),
    reason          text NOT NULL,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    not_before      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    done_at         timestamptz,
    run_id          bigint REFERENCES audit_runs(id),
    error           text
);
-- At most one pending job per trip: a second enqueue while one waits is a no-op.
CREATE UNIQUE INDEX audit_jobs_pending_trip ON audit_jobs (trip_id) WHERE done_at IS NULL;
CREATE INDEX audit_jobs_pending ON audit_jobs (not_before) WHERE done_at IS NULL;

CREATE FUNCTION audit_enqueue(p_trip_id bigint, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_jobs (trip_id, reason) VALUES (p_trip_id, p_reason)
    ON CONFLICT (trip_id) WHERE done_at IS NULL DO NOTHING;
    PERFORM pg_notify('audit_jobs', p_trip_id::text);
END $$;

CREATE FUNCTION audit_trip_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('completed', 'no_show', 'cancelled')
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        PERFORM audit_enqueue(NEW.id, 'status:' || NEW.status);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER trips_audit_enqueue
    AFTER INSERT OR UPDATE OF status ON trips
    FOR EACH ROW EXECUTE FUNCTION audit_trip_finished();

-- A payment recorded after the trip finished changes the audit's input: audit it again.
CREATE FUNCTION audit_payment_recorded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM trips t WHERE t.id = NEW.trip_id
               AND t.status IN ('completed', 'no_show', 'cancelled')) THEN
        PERFORM audit_enqueue(NEW.trip_id, 'payment');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER payments_audit_enqueue
    AFTER INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION audit_payment_recorded();
