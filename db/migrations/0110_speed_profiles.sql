-- Routing: versioned speed profiles calibrated from the fleet's own matched tracks
-- (``socialtaxi map calibrate``; ``routing/calibration.py``). A profile is never changed once
-- written: a new calibration is a new version (its id), so an ETA, a plan or an audit finding
-- can always say which speeds it used. Rows are kept only for buckets with at least
-- ``min_count`` edge traversals; hour_of_week is 0 (Monday 00:00 local) .. 167, NULL = all hours.
-- Edges are keyed by the OSM ids of their end nodes (stable across graph cache rebuilds).
CREATE TABLE speed_profiles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,   -- the version
    map_source      text NOT NULL,             -- OSM file name the graph was built from
    map_digest      text NOT NULL,             -- its content digest (graph meta)
    period_from     timestamptz NOT NULL,
    period_to       timestamptz NOT NULL CHECK (period_to > period_from),
    min_count       integer NOT NULL CHECK (min_count >= 1),
    trips           integer NOT NULL CHECK (trips >= 0),
    fixes           bigint NOT NULL CHECK (fixes >= 0),
    traversals      bigint NOT NULL CHECK (traversals >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text                       -- OS user of the command, for the record
);
CREATE INDEX speed_profiles_map ON speed_profiles (map_digest, id DESC);

CREATE TABLE speed_profile_classes (
    profile_id      bigint NOT NULL REFERENCES speed_profiles(id) ON DELETE CASCADE,
    road_class      text NOT NULL,             -- OSM highway value (graph edge_class)
    hour_of_week    smallint CHECK (hour_of_week BETWEEN 0 AND 167),
    n               integer NOT NULL CHECK (n >= 1),
    speed_kmh       real NOT NULL CHECK (speed_kmh > 0),        -- observed
    base_speed_kmh  real NOT NULL CHECK (base_speed_kmh > 0)    -- the model's, same traversals
);
CREATE UNIQUE INDEX speed_profile_classes_key
    ON speed_profile_classes (profile_id, road_class, COALESCE(hour_of_week, -1));

CREATE TABLE speed_profile_edges (
    profile_id      bigint NOT NULL REFERENCES speed_profiles(id) ON DELETE CASCADE,
    u_osm           bigint NOT NULL,
    v_osm           bigint NOT NULL,
    hour_of_week    smallint CHECK (hour_of_week BETWEEN 0 AND 167),
    n               integer NOT NULL CHECK (n >= 1),
    speed_kmh       real NOT NULL CHECK (speed_kmh > 0),
    base_speed_kmh  real NOT NULL CHECK (base_speed_kmh > 0)
);
CREATE UNIQUE INDEX speed_profile_edges_key
    ON speed_profile_edges (profile_id, u_osm, v_osm, COALESCE(hour_of_week, -1));
