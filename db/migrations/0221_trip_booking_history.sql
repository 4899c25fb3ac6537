-- Booking (issue 12): what a trip was booked under is kept on the trip, so later changes (an
-- object reclassified, a category ending) do not rewrite past quotas; the reason the category was
-- chosen; the companion's name (a minor travels only with one).
ALTER TABLE trips
    ADD COLUMN object_type     text,
    ADD COLUMN category_reason text,
    ADD COLUMN companion_name  text;
UPDATE trips t SET object_type = o.object_type FROM social_objects o WHERE o.id = t.dest_object_id;
