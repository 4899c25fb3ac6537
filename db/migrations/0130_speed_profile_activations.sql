-- Routing: which calibrated speed profile (migration 0110) the system routes on. Activation is
-- explicit (``socialtaxi map profile activate VERSION`` / ``deactivate``) and every change is a
-- new row, never an update: the newest row says what is active now (``profile_id`` NULL = none,
-- the model's speeds), the older rows say who switched what and when — so a quote, a plan or an
-- audit finding can be traced to the speeds in force at its time.
CREATE TABLE speed_profile_activations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id      bigint REFERENCES speed_profiles(id),   -- NULL: deactivated
    changed_at      timestamptz NOT NULL DEFAULT now(),
    changed_by      text NOT NULL                           -- OS user of the command
);
