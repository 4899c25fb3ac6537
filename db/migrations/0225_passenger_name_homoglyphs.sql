-- Passenger search (issue 12): names are normalised with Latin look-alike letters read as
-- Cyrillic (dispatch.identity.fix_homoglyphs). Rows stored before that keep a mixed-script
-- name_norm that a Cyrillic search would miss: rewrite the look-alikes in those rows (a name
-- with both scripts; purely Latin names are left alone).
UPDATE passengers
SET name_norm = translate(name_norm, 'aceopxykmthbu', 'асеорхукмтнви')
WHERE name_norm ~ '[а-я]' AND name_norm ~ '[a-z]';
