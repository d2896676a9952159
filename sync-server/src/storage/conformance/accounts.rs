//! Conformance checks on admin accounts (kept by name, replaced whole) and school policies
//! (replaced whole).

use super::*;

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn admin_accounts_are_kept_by_name_and_replaced(mut s: Box<dyn Storage>) {
    assert_eq!(s.admin_account("anna").unwrap(), None);
    let mut anna = AdminAccount {
        name: "anna".into(),
        role: AdminRole::ItAdmin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: 1_700_000_000_000,
        disabled: false,
    };
    let fg = AdminAccount {
        name: "fg".into(),
        role: AdminRole::PrivacyOfficer,
        ..anna.clone()
    };
    s.put_admin_account(&anna).unwrap();
    s.put_admin_account(&fg).unwrap();
    assert_eq!(s.admin_account("anna").unwrap().as_ref(), Some(&anna));
    anna.disabled = true;
    anna.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into();
    s.put_admin_account(&anna).unwrap();
    assert_eq!(
        s.admin_accounts().unwrap(),
        vec![anna, fg],
        "an account is replaced whole, listed by name"
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn a_school_policy_is_replaced_whole(mut s: Box<dyn Storage>) {
    assert_eq!(s.school_policy("s1").unwrap(), None);
    s.set_school_policy("s1", r#"{"a":1}"#).unwrap();
    s.set_school_policy("s2", r#"{"b":"één"}"#).unwrap();
    s.set_school_policy("s1", r#"{"a":2}"#).unwrap();
    assert_eq!(
        s.school_policy("s1").unwrap().as_deref(),
        Some(r#"{"a":2}"#)
    );
    assert_eq!(
        s.school_policy("s2").unwrap().as_deref(),
        Some(r#"{"b":"één"}"#)
    );
}
