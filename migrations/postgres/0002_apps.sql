-- Downstream apps: what forward-auth admits, which headers and token audience they get,
-- and which origins return_to may lead to. The same in both dialects.

CREATE TABLE apps (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,          -- slug, identifies the app in apply files and the API
    audience         TEXT NOT NULL UNIQUE,          -- `aud` of the tokens minted for it
    headers          TEXT NOT NULL DEFAULT '[]',    -- JSON list: user, email, name, org, roles, token
    unauthenticated  TEXT NOT NULL DEFAULT 'status' CHECK (unauthenticated IN ('status', 'redirect')),
    -- Whether the organization / role lists restrict entry. Kept apart from the lists so
    -- that deleting the last listed organization closes the app instead of opening it.
    org_restricted   BIGINT NOT NULL DEFAULT 0 CHECK (org_restricted IN (0, 1)),
    role_restricted  BIGINT NOT NULL DEFAULT 0 CHECK (role_restricted IN (0, 1)),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- scheme://host[:port] (normalized, default ports omitted): allowed return_to targets.
CREATE TABLE app_origins (
    origin TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE
);
CREATE INDEX app_origins_app ON app_origins(app_id);

-- host[:port] as forward-auth sees it in X-Forwarded-Host: one app per host.
CREATE TABLE app_hosts (
    host   TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE
);
CREATE INDEX app_hosts_app ON app_hosts(app_id);

CREATE TABLE app_organizations (
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, organization_id)
);

CREATE TABLE app_roles (
    app_id  TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES organization_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, role_id)
);
