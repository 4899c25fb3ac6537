-- Cancellations and no-shows recorded honestly (issue 12): who cancelled (passenger, carrier,
-- operator), when relative to the pickup (early, late, at_pickup), and whether it counts against
-- the passenger's quota — decided from the rules file when it happened, read by the quota.
ALTER TABLE trips
    ADD COLUMN cancel_initiator text CHECK (cancel_initiator IN ('passenger', 'carrier', 'operator')),
    ADD COLUMN cancel_timing    text CHECK (cancel_timing IN ('early', 'late', 'at_pickup')),
    ADD COLUMN counts_for_quota boolean;
