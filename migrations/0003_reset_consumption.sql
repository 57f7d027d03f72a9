-- Which request consumed a reset token: lets the confirm batch apply the new password
-- only for the request whose compare-and-set marked the token used (single use even
-- when two confirms of one token land in the same second).
ALTER TABLE password_resets ADD COLUMN consumed_by TEXT;
