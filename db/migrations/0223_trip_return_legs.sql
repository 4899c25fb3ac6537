-- Return trips (issue 12). A trip goes to its social object (`direction = 'to_object'`, as every
-- trip before) or comes back from it (`'from_object'`): then `pickup_object_id` is that object,
-- `dest_object_id` stays the trip's social object (its type is what the quota counts) and the
-- drop-off is `dest_lat`/`dest_lon`/`dest_address` (home or another address), not the object.
-- The two legs of a there-and-back booking share `pair_id` (the outward leg's id); the outward
-- leg names its return in `return_trip_id`.
ALTER TABLE trips
    ADD COLUMN direction      text NOT NULL DEFAULT 'to_object'
                              CHECK (direction IN ('to_object', 'from_object')),
    ADD COLUMN dest_address   text,
    ADD COLUMN pair_id        bigint REFERENCES trips(id),
    ADD COLUMN return_trip_id bigint REFERENCES trips(id),
    ADD CONSTRAINT trips_from_object_pickup
        CHECK (direction = 'to_object' OR pickup_object_id = dest_object_id);
CREATE INDEX trips_pair ON trips (pair_id) WHERE pair_id IS NOT NULL;
