-- Core registries, trips, payments, documents, audit and access log.
-- Geometry is GeoJSON (jsonb, WGS 84) plus plain lat/lon columns: PostGIS is not required.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Users and roles ------------------------------------------------------------------------------
CREATE TABLE roles (
    code        text PRIMARY KEY,
    name        text NOT NULL
);
INSERT INTO roles (code, name) VALUES
    ('operator',   'Оператор'),
    ('dispatcher', 'Диспетчер'),
    ('controller', 'Контролёр'),
    ('supervisor', 'Старший смены'),
    ('admin',      'Администратор');

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login           text NOT NULL UNIQUE,
    full_name       text NOT NULL,
    password_hash   text NOT NULL,
    carrier_id      bigint,                 -- set for a carrier's own staff
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_roles (
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL REFERENCES roles(code),
    PRIMARY KEY (user_id, role)
);

-- Benefit categories (mirrors the rules file; trips keep the code they were booked under) ------
CREATE TABLE benefit_categories (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    monthly_limit   integer NOT NULL CHECK (monthly_limit >= 0),
    yearly_limit    integer CHECK (yearly_limit >= 0),
    rules_version   text NOT NULL
);

-- Passengers (personal data: every read is written to access_log) ------------------------------
CREATE TABLE passengers (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    last_name           text NOT NULL,
    first_name          text NOT NULL,
    middle_name         text,
    birth_date          date NOT NULL,
    snils               char(11) UNIQUE,     -- digits only, checksum validated by the application
    -- lower-case, ё→е, single spaces: "иванов иван иванович"; used for search
    name_norm           text NOT NULL,
    home_address        text,
    home_lat            double precision CHECK (home_lat BETWEEN -90 AND 90),
    home_lon            double precision CHECK (home_lon BETWEEN -180 AND 180),
    wheelchair          boolean NOT NULL DEFAULT false,
    walker              boolean NOT NULL DEFAULT false,
    visually_impaired   boolean NOT NULL DEFAULT false,
    needs_companion     boolean NOT NULL DEFAULT false,
    notes               text,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX passengers_name_trgm ON passengers USING gin (name_norm gin_trgm_ops);
CREATE INDEX passengers_name_birth ON passengers (name_norm, birth_date);
CREATE INDEX passengers_birth ON passengers (birth_date);

CREATE TABLE passenger_phones (
    passenger_id    bigint NOT NULL REFERENCES passengers(id) ON DELETE CASCADE,
    phone_norm      text NOT NULL CHECK (phone_norm ~ '^7[0-9]{10}$'),   -- 7XXXXXXXXXX
    is_primary      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (passenger_id, phone_norm)
);
CREATE INDEX passenger_phones_norm ON passenger_phones (phone_norm text_pattern_ops);
CREATE INDEX passenger_phones_trgm ON passenger_phones USING gin (phone_norm gin_trgm_ops);

CREATE TABLE passenger_benefits (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    passenger_id    bigint NOT NULL REFERENCES passengers(id) ON DELETE CASCADE,
    category        text NOT NULL REFERENCES benefit_categories(code),
    valid_from      date NOT NULL,
    valid_to        date,
    document_ref    text,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX passenger_benefits_passenger ON passenger_benefits (passenger_id);

-- Social objects ----------------------------------------------------------------------------------
CREATE TABLE social_objects (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    object_type     text NOT NULL,           -- a code from the rules file
    address         text NOT NULL,
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    geofence        jsonb,                   -- GeoJSON Polygon, WGS 84; NULL: circle of radius_m
    radius_m        double precision NOT NULL DEFAULT 150 CHECK (radius_m > 0),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX social_objects_name_trgm ON social_objects USING gin (lower(name) gin_trgm_ops);
CREATE INDEX social_objects_type ON social_objects (object_type) WHERE active;

-- Carriers, vehicles, drivers -------------------------------------------------------------------
CREATE TABLE carriers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    inn             text UNIQUE CHECK (inn ~ '^[0-9]{10}([0-9]{2})?$'),
    contract_no     text,
    phone           text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE users ADD CONSTRAINT users_carrier_fk FOREIGN KEY (carrier_id) REFERENCES carriers(id);

CREATE TABLE vehicles (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier_id          bigint NOT NULL REFERENCES carriers(id),
    plate               text NOT NULL UNIQUE,
    vehicle_type        text NOT NULL,       -- a tariff code from the rules file
    seats               integer NOT NULL CHECK (seats > 0),
    wheelchair_places   integer NOT NULL DEFAULT 0 CHECK (wheelchair_places >= 0),
    model               text,
    -- MQTT identity: the vehicle publishes under socialtaxi/v1/vehicles/{mqtt_id}/...
    mqtt_id             text NOT NULL UNIQUE,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE drivers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier_id      bigint NOT NULL REFERENCES carriers(id),
    full_name       text NOT NULL,
    license_no      text NOT NULL UNIQUE,
    phone           text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Trips -----------------------------------------------------------------------------------------
CREATE TABLE recurrences (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    passenger_id    bigint NOT NULL REFERENCES passengers(id),
    rule            jsonb NOT NULL,          -- e.g. {"weekdays":[0,2,4],"time":"08:00","until":...}
    created_by      bigint REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trips (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    passenger_id        bigint NOT NULL REFERENCES passengers(id),
    category            text NOT NULL REFERENCES benefit_categories(code),
    status              text NOT NULL DEFAULT 'booked' CHECK (status IN
                            ('booked','assigned','en_route','at_pickup','on_board',
                             'completed','cancelled','no_show')),
    vehicle_type        text NOT NULL,
    companions          integer NOT NULL DEFAULT 0 CHECK (companions >= 0),
    wheelchair          boolean NOT NULL DEFAULT false,
    pickup_at           timestamptz NOT NULL,
    pickup_address      text NOT NULL,
    pickup_lat          double precision NOT NULL,
    pickup_lon          double precision NOT NULL,
    pickup_object_id    bigint REFERENCES social_objects(id),
    dest_object_id      bigint NOT NULL REFERENCES social_objects(id),
    dest_lat            double precision NOT NULL,
    dest_lon            double precision NOT NULL,
    comment             text,
    -- planned route, from routing at booking time
    planned_route       jsonb,               -- GeoJSON LineString, WGS 84
    planned_dist_m      double precision,
    planned_duration_s  double precision,
    planned_dropoff_at  timestamptz,
    -- money, integer kopecks
    fare_kop            bigint CHECK (fare_kop >= 0),
    copay_share_pct     numeric(5,2) CHECK (copay_share_pct BETWEEN 0 AND 100),
    copay_kop           bigint CHECK (copay_kop >= 0),
    rules_version       text,
    -- quota
    over_quota          boolean NOT NULL DEFAULT false,
    override_by         bigint REFERENCES users(id),
    override_reason     text,
    -- assignment
    vehicle_id          bigint REFERENCES vehicles(id),
    driver_id           bigint REFERENCES drivers(id),
    carrier_id          bigint REFERENCES carriers(id),
    recurrence_id       bigint REFERENCES recurrences(id),
    -- actuals
    started_at          timestamptz,
    picked_up_at        timestamptz,
    completed_at        timestamptz,
    cancelled_at        timestamptz,
    cancelled_by        bigint REFERENCES users(id),
    cancel_reason       text,
    late_cancel         boolean,
    no_show_reason      text,
    created_by          bigint REFERENCES users(id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT over_quota OR (override_by IS NOT NULL AND override_reason IS NOT NULL))
);
CREATE INDEX trips_passenger_pickup ON trips (passenger_id, pickup_at);
CREATE INDEX trips_pickup ON trips (pickup_at);
CREATE INDEX trips_vehicle_pickup ON trips (vehicle_id, pickup_at) WHERE vehicle_id IS NOT NULL;
CREATE INDEX trips_status ON trips (status) WHERE status NOT IN ('completed','cancelled','no_show');

-- Every state change and every vehicle-reported event of a trip.
CREATE TABLE trip_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trip_id         bigint REFERENCES trips(id),       -- NULL for shift events
    vehicle_id      bigint REFERENCES vehicles(id),
    event_type      text NOT NULL,
    from_status     text,
    to_status       text,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    actor_user_id   bigint REFERENCES users(id),
    source          text NOT NULL CHECK (source IN ('web','api','vehicle','system')),
    lat             double precision,
    lon             double precision,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- idempotency for vehicle events redelivered over MQTT
    dedup_key       text UNIQUE
);
CREATE INDEX trip_events_trip ON trip_events (trip_id, occurred_at);
CREATE INDEX trip_events_vehicle ON trip_events (vehicle_id, occurred_at);

-- Payments: co-payments collected from passengers ------------------------------------------------
CREATE TABLE payments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trip_id         bigint NOT NULL REFERENCES trips(id),
    amount_kop      bigint NOT NULL CHECK (amount_kop >= 0),
    method          text NOT NULL CHECK (method IN ('cash','card','none')),
    collected_at    timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL CHECK (source IN ('vehicle','web','api')),
    dedup_key       text UNIQUE
);
CREATE INDEX payments_trip ON payments (trip_id);

-- Documents (referrals etc.) ---------------------------------------------------------------------
CREATE TABLE documents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trip_id         bigint REFERENCES trips(id),
    passenger_id    bigint REFERENCES passengers(id),
    kind            text NOT NULL DEFAULT 'referral',
    filename        text NOT NULL,
    content_type    text NOT NULL CHECK (content_type IN
                        ('application/pdf','image/jpeg','image/png')),
    size_bytes      integer NOT NULL CHECK (size_bytes > 0),
    sha256          char(64) NOT NULL,
    content         bytea NOT NULL,
    uploaded_by     bigint REFERENCES users(id),
    uploaded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_trip ON documents (trip_id);

-- Telemetry: last position and dead letters (positions themselves: migration 0002) ----------------
CREATE TABLE vehicle_last_position (
    vehicle_id      bigint PRIMARY KEY REFERENCES vehicles(id),
    ts              timestamptz NOT NULL,
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    speed_kmh       real,
    heading_deg     real,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE telemetry_dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    topic           text NOT NULL,
    payload         bytea NOT NULL,
    reason          text NOT NULL,
    detail          text
);
CREATE INDEX telemetry_dead_letters_time ON telemetry_dead_letters (received_at);

-- Audit -----------------------------------------------------------------------------------------
CREATE TABLE audit_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    period_from     timestamptz NOT NULL,
    period_to       timestamptz NOT NULL,
    rules_version   text NOT NULL,
    trips_checked   integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running','done','failed')),
    error           text
);

CREATE TABLE audit_findings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES audit_runs(id),
    trip_id         bigint NOT NULL REFERENCES trips(id),
    rule            text NOT NULL,           -- route_deviation, late_pickup, over_quota, ...
    severity        text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info','warning','critical')),
    evidence        jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open','confirmed','dismissed')),
    reviewed_by     bigint REFERENCES users(id),
    reviewed_at     timestamptz,
    review_comment  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trip_id, rule, run_id)
);
CREATE INDEX audit_findings_open ON audit_findings (status, created_at);

-- Access log: who read which passenger's personal data, when and why ------------------------------
CREATE TABLE access_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    user_id         bigint REFERENCES users(id),
    action          text NOT NULL,           -- read, search, update, export ...
    passenger_id    bigint REFERENCES passengers(id),
    purpose         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX access_log_passenger ON access_log (passenger_id, at);
CREATE INDEX access_log_user ON access_log (user_id, at);
