-- Dispatch: a collected co-payment is compared with the one due. A vehicle's payment is recorded
-- only when it is valid (the trip's vehicle, the trip on board or completed, once per trip;
-- otherwise it is a refused trip event and no payments row); an amount that differs from the
-- trip's copay_kop is recorded as collected and marked here for the audit to judge.
ALTER TABLE payments ADD COLUMN expected_kop bigint CHECK (expected_kop >= 0);
ALTER TABLE payments ADD COLUMN amount_mismatch boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN payments.expected_kop IS
    'the trip''s co-payment due when the payment was recorded (kopecks); NULL: no figure';
COMMENT ON COLUMN payments.amount_mismatch IS 'amount_kop differs from expected_kop';
CREATE INDEX payments_mismatch ON payments (trip_id) WHERE amount_mismatch;
