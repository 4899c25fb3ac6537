-- Dispatch: a carrier's depot (where its vehicles are parked overnight). Day planning starts a
-- vehicle that has not reported a position yet (a morning plan before shifts begin) from its
-- carrier's depot; without one, the vehicle is planned from its first pickup.
ALTER TABLE carriers ADD COLUMN depot_address text;
ALTER TABLE carriers ADD COLUMN depot_lat double precision CHECK (depot_lat BETWEEN -90 AND 90);
ALTER TABLE carriers ADD COLUMN depot_lon double precision CHECK (depot_lon BETWEEN -180 AND 180);
ALTER TABLE carriers ADD CONSTRAINT carriers_depot_pair
    CHECK ((depot_lat IS NULL) = (depot_lon IS NULL));
