-- Booking: the offline address index, built from the map's OSM data by `socialtaxi map import`
-- (routing.address_store). One row per house (addr:* on a building or entrance), street (one per
-- name) or place. `words` is the normalised street/place name plus the settlement, `house` the
-- normalised house number (routing.addresses); a search matches `words` with pg_trgm (typos) and
-- `house` exactly. Rows of one map file (`source`) are replaced as a whole on re-import.
CREATE TABLE addresses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('house', 'street', 'place')),
    label       text NOT NULL,
    words       text NOT NULL,
    house       text,
    type_words  text[] NOT NULL DEFAULT '{}',
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    osm_ref     text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'house') = (house IS NOT NULL))
);
CREATE INDEX addresses_words_trgm ON addresses USING gin (words gin_trgm_ops);
CREATE INDEX addresses_house ON addresses (house) WHERE house IS NOT NULL;
CREATE INDEX addresses_source ON addresses (source);
