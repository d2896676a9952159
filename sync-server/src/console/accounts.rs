//! Admin accounts: argon2id password hashes, adding an account, the console's audit rows.

use super::MIN_PASSWORD;
use crate::storage::{AdminAccount, AdminRole, AuditAction, AuditRecord, Batch, Storage};
use crate::{Error, Result};

fn hasher() -> argon2::Argon2<'static> {
    // argon2id, version 0x13, the crate's defaults (OWASP's minimum: m=19 MiB, t=2, p=1).
    argon2::Argon2::default()
}

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| Error::Invalid("salt".into()))?;
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| Error::Invalid("the password could not be hashed".into()))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Create an admin console account, or set a new password and role on an existing one
/// (`omkijken-server admin add-admin`). The name is 1-64 of a-z, 0-9, `-`, `_`, `.`; the
/// password at least [`MIN_PASSWORD`] characters. Written to the audit log (never the
/// password). Returns whether the account was new.
pub fn add_admin(
    st: &mut dyn Storage,
    now: i64,
    name: &str,
    role: AdminRole,
    password: &str,
) -> Result<bool> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(Error::Invalid(
            "the account name must be 1-64 characters a-z, 0-9, '-', '_' or '.'".into(),
        ));
    }
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::Invalid(format!(
            "the password must be at least {MIN_PASSWORD} characters"
        )));
    }
    let existing = st.admin_account(name)?;
    st.put_admin_account(&AdminAccount {
        name: name.into(),
        role,
        password_hash: hash_password(password)?,
        created_at: existing.as_ref().map(|a| a.created_at).unwrap_or(now),
        disabled: false,
    })?;
    st.commit(Batch {
        audit: vec![console_audit(
            now,
            Some(name),
            if existing.is_some() {
                "account_changed"
            } else {
                "account_added"
            },
            None,
            None,
        )],
        ..Default::default()
    })?;
    Ok(existing.is_none())
}

/// The audit row of a console call.
pub fn console_audit(
    now: i64,
    account: Option<&str>,
    op: &str,
    school: Option<&str>,
    pupil: Option<&str>,
) -> AuditRecord {
    AuditRecord {
        device: Some("admin-console".into()),
        user: account.map(|a| format!("admin:{a}")),
        kind: Some(op.into()),
        pupil: pupil.map(Into::into),
        ..AuditRecord::new(now, school.unwrap_or_default(), AuditAction::Console)
    }
}
