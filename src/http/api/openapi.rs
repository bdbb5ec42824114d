//! `GET /api/v1/openapi.json`: the management API's description (OpenAPI 3.1).

use axum::Json;
use serde_json::{json, Value};

pub async fn document() -> Json<Value> {
    let bearer = json!([{ "apiKey": [] }]);
    let err = json!({ "$ref": "#/components/responses/Error" });
    Json(json!({
        "openapi": "3.1.0",
        "info": { "title": "ssogate management API", "version": env!("CARGO_PKG_VERSION") },
        "security": bearer,
        "components": {
            "securitySchemes": { "apiKey": { "type": "http", "scheme": "bearer", "description": "a key from `ssogate api-key create`" } },
            "responses": { "Error": { "description": "error", "content": { "application/json": { "schema": {
                "type": "object", "properties": { "error": { "type": "object", "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" }, "request_id": { "type": "string" } } } } } } } } }
        },
        "paths": {
            "/api/v1/connectors": { "get": { "summary": "List connectors (secrets never returned)", "responses": { "200": { "description": "connectors" }, "401": err } } },
            "/api/v1/connectors/{id}": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "get": { "summary": "One connector", "responses": { "200": { "description": "connector" }, "404": err } },
                "put": { "summary": "Create or update a connector (same fields as an `apply` file's [[connectors]], PEM content inline)", "responses": { "200": { "description": "updated" }, "201": { "description": "created" }, "400": err } },
                "delete": { "summary": "Delete a connector", "responses": { "204": { "description": "deleted" }, "404": err } }
            },
            "/api/v1/organizations": {
                "get": { "summary": "List organizations", "responses": { "200": { "description": "organizations" } } },
                "post": { "summary": "Create or update an organization by name (JIT email domains, JIT connectors, default roles)", "responses": { "200": { "description": "organization" }, "400": err } }
            },
            "/api/v1/organizations/{id}": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "get": { "summary": "One organization", "responses": { "200": { "description": "organization" }, "404": err } },
                "delete": { "summary": "Delete an organization", "responses": { "204": { "description": "deleted" }, "404": err } }
            },
            "/api/v1/roles": {
                "get": { "summary": "The organization template's roles", "responses": { "200": { "description": "roles" } } },
                "post": { "summary": "Create or update a role by name", "responses": { "200": { "description": "role" } } }
            },
            "/api/v1/connectors/{id}/rotate-sp-key": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": { "summary": "A new SP key pair for a SAML connector, used at once (give the IdP the new certificate at once); drops a staged pair", "responses": { "200": { "description": "the new certificate: `{connector, sp_certificate_pem}`" }, "400": err, "404": err } }
            },
            "/api/v1/connectors/{id}/sp-key/stage": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": { "summary": "Stage the next SP key pair of a SAML connector: its certificate is published in the SP metadata next to the current one (signing and encryption) and decrypts; AuthnRequests are still signed with the current key. Staging again replaces the staged pair", "responses": { "200": { "description": "the staged certificate: `{connector, next_sp_certificate_pem}`" }, "400": err, "404": err } }
            },
            "/api/v1/connectors/{id}/sp-key/activate": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": { "summary": "Activate the staged SP key pair: it signs from now on and is the only certificate in the SP metadata; the current key keeps decrypting as the previous one", "responses": { "200": { "description": "the now current certificate: `{connector, sp_certificate_pem}`" }, "400": err, "404": err, "409": err }, "description": "409 `sp_key_not_staged` when nothing is staged" }
            },
            "/api/v1/apps": {
                "get": { "summary": "Downstream apps", "responses": { "200": { "description": "apps" } } },
                "post": { "summary": "Create an app", "responses": { "201": { "description": "created" }, "400": err } }
            },
            "/api/v1/apps/{name}": {
                "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }],
                "get": { "summary": "One app", "responses": { "200": { "description": "app" }, "404": err } },
                "put": { "summary": "Create or replace an app", "responses": { "200": { "description": "replaced" }, "201": { "description": "created" }, "400": err } },
                "delete": { "summary": "Delete an app", "responses": { "204": { "description": "deleted" }, "404": err } }
            },
            "/api/v1/users/{id}/suspend": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": { "summary": "Suspend a user; ends all their sessions", "responses": { "200": { "description": "suspended" }, "404": err } }
            },
            "/api/v1/users/{id}/unsuspend": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": { "summary": "Lift a suspension", "responses": { "200": { "description": "unsuspended" }, "404": err } }
            },
            "/api/v1/users/{id}/identities/relink": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": {
                    "summary": "Move the user's identity of a connector to the subject the IdP now asserts (after a `subject_changed_for_email` refusal: check first that it is the same person); ends the user's sessions; audited as `identity.relinked`",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object", "required": ["connector", "subject"], "additionalProperties": false,
                        "properties": {
                            "connector": { "type": "string" },
                            "subject": { "type": "string", "description": "the new subject (the refusal event's `data.detail.subject`)" },
                            "previous_subject": { "type": "string", "description": "only when the user holds several identities of the connector" }
                        } } } } },
                    "responses": { "200": { "description": "`{user_id, connector, previous_subject, subject, sessions_ended}`" }, "400": err, "404": err, "409": err },
                    "description": "409 `identity_not_linked` (no identity of this connector to move), `previous_subject_required`, `subject_already_linked` (the new subject belongs to an account already)"
                }
            },
            "/api/v1/lint": { "get": { "summary": "Configuration linter warnings (code, objects, message, fix)", "responses": { "200": { "description": "warnings" } } } },
            "/api/v1/signin/dry-run": { "post": { "summary": "The engine's decision and every provisioning step for a connector and a profile; writes nothing", "responses": { "200": { "description": "decision" }, "404": err } } },
            "/api/v1/audit-events": { "get": {
                "summary": "Audit events, newest first",
                "parameters": [
                    { "name": "user_id", "in": "query", "schema": { "type": "string" } },
                    { "name": "organization_id", "in": "query", "schema": { "type": "string" } },
                    { "name": "type", "in": "query", "schema": { "type": "string" } },
                    { "name": "request_id", "in": "query", "schema": { "type": "string" } },
                    { "name": "since", "in": "query", "schema": { "type": "integer" }, "description": "unix ms, inclusive" },
                    { "name": "until", "in": "query", "schema": { "type": "integer" }, "description": "unix ms, exclusive" },
                    { "name": "before", "in": "query", "schema": { "type": "string" }, "description": "the `next` cursor of the previous page" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }
                ],
                "responses": { "200": { "description": "events and a `next` cursor" }, "401": err } } }
        }
    }))
}
