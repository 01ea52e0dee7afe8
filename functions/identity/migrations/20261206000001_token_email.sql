-- The address a token was mailed to: a verification token verifies that address only
-- (changing the email retires the tokens of the old one, too). Older rows have none and
-- verify nothing.
ALTER TABLE tokens ADD COLUMN email TEXT;
