-- The client (address, IPv6 /64) that started each sign-in in flight, so one client
-- cannot fill the global cap for everyone (login.pending_cap_per_client).
ALTER TABLE pending_logins ADD COLUMN client_key TEXT NOT NULL DEFAULT '';
CREATE INDEX pending_logins_client ON pending_logins(client_key, expires_at);
