-- Dispatch: passenger search by ФИО without a birth date. A word index on the normalised name
-- lets the search find "two of the three words exactly" (a typo in the third) in milliseconds;
-- the trigram index (0001) remains the fallback for several typos or a partial name.
CREATE INDEX passengers_name_words ON passengers USING gin (to_tsvector('simple', name_norm));
