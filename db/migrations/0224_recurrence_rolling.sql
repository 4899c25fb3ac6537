-- Rolling series (issue 12): a series keeps its booking request and how far it has been expanded;
-- a daily job (`socialtaxi series expand`) books each date as it enters the booking horizon,
-- quota-checked then. Dates refused at creation or by the job are kept for the operator.
ALTER TABLE recurrences
    ADD COLUMN request          jsonb,
    ADD COLUMN until_date       date,
    ADD COLUMN expanded_through date,
    ADD COLUMN active           boolean NOT NULL DEFAULT true;
CREATE TABLE recurrence_refusals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recurrence_id   bigint NOT NULL REFERENCES recurrences(id),
    pickup_at       timestamptz NOT NULL,
    codes           text[] NOT NULL,
    reasons         text[] NOT NULL,
    checked_at      timestamptz NOT NULL,
    UNIQUE (recurrence_id, pickup_at)
);
CREATE INDEX recurrences_to_expand ON recurrences (expanded_through)
    WHERE active AND request IS NOT NULL;
