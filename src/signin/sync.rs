//! Profile fields and how a sign-in changes them.

use serde::Serialize;

/// The profile fields ssogate keeps and syncs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfileFields {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A value from the IdP that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncConflict {
    pub field: &'static str,
    pub kept: Option<String>,
    pub offered: Option<String>,
    pub reason: &'static str,
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The changes that make `current` match `incoming`. `overwrite` false fills only empty
/// fields (first sign-in of an existing account: the account's own data wins); a value
/// the IdP does not send never erases a stored one.
pub fn diff_fields(
    current: &ProfileFields,
    incoming: &ProfileFields,
    overwrite: bool,
) -> Vec<FieldChange> {
    let pairs: [(&'static str, &Option<String>, &Option<String>); 4] = [
        ("given_name", &current.given_name, &incoming.given_name),
        ("family_name", &current.family_name, &incoming.family_name),
        ("name", &current.name, &incoming.name),
        ("picture", &current.picture, &incoming.picture),
    ];
    let mut out = Vec::new();
    for (field, old, new) in pairs {
        let new = clean(new);
        if new.is_none() || *old == new {
            continue;
        }
        if old.is_some() && !overwrite {
            continue;
        }
        out.push(FieldChange {
            field,
            old: old.clone(),
            new,
        });
    }
    out
}
