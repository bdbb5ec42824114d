-- ssogate schema (SQLite dialect). migrations/postgres/0001_initial.sql holds the same
-- schema in the PostgreSQL dialect; keep the two in step.
-- Times are unix milliseconds (BIGINT); JSON documents are TEXT; ids are TEXT (UUID or slug).
-- Flags are BIGINT 0/1, not BOOLEAN: sqlx's Any driver cannot decode SQLite BOOLEAN columns,
-- and one Rust type (i64) must decode the column on both databases.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT UNIQUE,              -- normalized (lower-case, punycode domain)
    email_verified    BIGINT NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    given_name        TEXT,
    family_name       TEXT,
    name              TEXT,
    picture           TEXT,
    custom_attributes TEXT NOT NULL DEFAULT '{}',
    suspended         BIGINT NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_sign_in_at   BIGINT
);

CREATE TABLE connectors (
    id           TEXT PRIMARY KEY,              -- slug, used in URLs
    kind         TEXT NOT NULL CHECK (kind IN ('saml', 'oidc', 'social', 'email')),
    display_name TEXT NOT NULL,
    enabled      BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    config       TEXT NOT NULL DEFAULT '{}',    -- typed per kind, no secrets
    secrets      TEXT,                          -- sealed under the master key
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Email domains an enterprise connector claims (trusted for linking, routed at /login).
CREATE TABLE connector_domains (
    connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    domain       TEXT NOT NULL,                 -- normalized; '*.example.com' for subdomains
    PRIMARY KEY (connector_id, domain)
);
CREATE INDEX connector_domains_domain ON connector_domains(domain);

CREATE TABLE identities (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    raw_profile     TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    UNIQUE (connector_id, subject)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The organization template: roles every organization shares.
CREATE TABLE organization_roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE organization_jit_email_domains (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    domain          TEXT NOT NULL,
    PRIMARY KEY (organization_id, domain)
);
CREATE INDEX organization_jit_email_domains_domain ON organization_jit_email_domains(domain);

CREATE TABLE organization_jit_connectors (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, connector_id)
);
CREATE INDEX organization_jit_connectors_connector ON organization_jit_connectors(connector_id);

CREATE TABLE organization_default_roles (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role_id         TEXT NOT NULL REFERENCES organization_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, role_id)
);

CREATE TABLE organization_memberships (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_memberships_user ON organization_memberships(user_id);

-- One row per (organization, user, role, source, connector, mapping rule): a grant knows
-- where it came from, so a mapping in sync mode revokes only what it granted itself.
-- connector_id and mapping_rule are '' when not applicable (so the key stays unique).
CREATE TABLE organization_role_grants (
    organization_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    role_id         TEXT NOT NULL REFERENCES organization_roles(id) ON DELETE CASCADE,
    source          TEXT NOT NULL CHECK (source IN ('invitation', 'api', 'jit-sso',
                        'jit-email-domain', 'directory-sync', 'mapping')),
    connector_id    TEXT NOT NULL DEFAULT '',
    mapping_rule    TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id, role_id, source, connector_id, mapping_rule),
    FOREIGN KEY (organization_id, user_id)
        REFERENCES organization_memberships(organization_id, user_id) ON DELETE CASCADE
);
CREATE INDEX organization_role_grants_user ON organization_role_grants(user_id);

-- ids are UUIDv7 (time-ordered): (occurred_at, id) orders events newest first without ties.
CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,
    occurred_at     BIGINT NOT NULL,
    type            TEXT NOT NULL,
    request_id      TEXT,
    actor           TEXT,
    user_id         TEXT,
    organization_id TEXT,
    connector_id    TEXT,
    reason          TEXT,
    data            TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_time ON audit_events(occurred_at, id);
CREATE INDEX audit_events_user ON audit_events(user_id, occurred_at);
CREATE INDEX audit_events_org ON audit_events(organization_id, occurred_at);
CREATE INDEX audit_events_type ON audit_events(type, occurred_at);

-- tower-sessions records. user_id is copied out of the record so that suspension and
-- "sign out everywhere" can end a user's sessions.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT,
    data        BLOB NOT NULL,
    expiry_date BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expiry_date);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_key    TEXT NOT NULL,               -- sealed under the master key
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    publish_at     BIGINT NOT NULL,             -- appears in the JWKS from here on
    sign_from      BIGINT NOT NULL,             -- signs tokens from here on
    retire_at      BIGINT,                      -- stops signing
    remove_at      BIGINT                       -- leaves the JWKS (after its last token expired)
);

-- Server-side state of sign-ins in flight (RelayState/state, InResponseTo, nonce, PKCE).
-- Single-use (deleted when taken), expiring, capped; bound to the browser by a cookie
-- whose hash is browser_binding.
CREATE TABLE pending_logins (
    id              TEXT PRIMARY KEY,
    connector_id    TEXT NOT NULL,
    browser_binding TEXT NOT NULL,
    data            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX pending_logins_expires ON pending_logins(expires_at);

-- SAML assertion IDs seen, kept until the assertion expires (replay protection).
CREATE TABLE saml_assertion_ids (
    idp_entity_id TEXT NOT NULL,
    assertion_id  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (idp_entity_id, assertion_id)
);
CREATE INDEX saml_assertion_ids_expires ON saml_assertion_ids(expires_at);

-- Management API keys; only a SHA-256 of the (high-entropy) key is stored.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
