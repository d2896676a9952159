//! `omkijken-server admin ...`: each admin command run against the data directory or
//! database, with its output on stdout.

use crate::cli::{AdminCommand, AuditCheck, Format, RoleArg, StoreArgs, settings};
use anyhow::{Context, bail};
use omkijken_server::storage::{AuditFilter, Storage};
use omkijken_server::{admin, backup, dossier, register, retention};
use rand::RngCore;

pub(crate) fn run_admin(store: StoreArgs, command: AdminCommand) -> anyhow::Result<()> {
    let settings = settings(store);
    match &command {
        AdminCommand::Backup { to } => {
            let r = backup::backup(&settings, to)?;
            println!(
                "backed up {} documents ({} bytes) to {}",
                r.documents,
                r.bytes,
                to.display()
            );
            return Ok(());
        }
        AdminCommand::Backups => {
            let list = backup::list_backups(&settings)?;
            if list.is_empty() {
                println!("no backups recorded");
            }
            for b in list {
                let when = jiff::Timestamp::from_millisecond(b.taken_at)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| b.taken_at.to_string());
                let state = match (b.present, b.erased_since) {
                    (false, _) => "gone".to_string(),
                    (true, 0) => "ok".to_string(),
                    (true, n) => {
                        format!("HOLDS ERASED DATA ({n} documents erased since): destroy this file")
                    }
                };
                println!("{when}\t{}\t{state}", b.path);
            }
            return Ok(());
        }
        AdminCommand::Restore { from } => {
            let r = backup::restore(&settings, from)?;
            println!("restored {} documents", r.documents);
            if let Some(kept) = &r.replaced {
                println!("the replaced store is kept as {}", kept.display());
            }
            match &r.carried {
                Some(c) => println!(
                    "carried over from it: {} devices, {} enrollment codes, {} holds, {} audit rows; \
                     {} erasures made since the backup applied again",
                    c.devices, c.codes, c.holds, c.audit, c.erasures
                ),
                None if r.replaced.is_some() => println!(
                    "the replaced store did not open: enroll or revoke again the devices \
                     enrolled or revoked since the backup"
                ),
                None => {}
            }
            println!(
                "start the server; devices send back what it acknowledged since the backup. \
                 Import the roster again if it changed since."
            );
            return Ok(());
        }
        AdminCommand::RotateKey => {
            let r = backup::rotate_key(&settings)?;
            println!(
                "the store ({} documents) is encrypted with a new key, in {}",
                r.documents,
                r.key_file.display()
            );
            if r.old == omkijken_server::secure::KeySource::Environment {
                println!("unset OMKIJKEN_DB_KEY: the key file holds the store's key now");
            }
            println!(
                "keep a copy of the key file apart from the backups; backups made before \
                 still need the old key"
            );
            return Ok(());
        }
        _ => {}
    }
    let mut storage = settings.open_storage().context("opening the store")?;
    let st: &mut dyn Storage = storage.as_mut();
    let now = now_ms();
    match command {
        AdminCommand::CreateSchool { id, name } => {
            admin::create_school(st, now, &id, &name)?;
            println!("created school {id}");
        }
        AdminCommand::ImportRoster { school, file } => {
            let csv = std::fs::read_to_string(&file).context("reading the roster file")?;
            let r = admin::import_roster(st, &writer_actor(), now, &school, &csv)?;
            println!(
                "roster of {school}: {} pupils, {} staff, {} groups; changed: {}; documents with changed access: {}",
                r.pupils, r.staff, r.groups, r.changed, r.bumped
            );
        }
        AdminCommand::Lease { school, days } => {
            let changed = admin::set_offline_lease(st, &writer_actor(), now, &school, days)?;
            println!("offline lease of {school}: {days} days; changed: {changed}");
        }
        AdminCommand::Enroll { school, user } => {
            let ttl = settings.hub.code_ttl_ms;
            let code = admin::issue_code(st, &mut rand::rng(), now, &school, &user, ttl)?;
            println!("{code}");
        }
        AdminCommand::Devices { json } => {
            for d in st.devices()? {
                let revoked = d.revoked_at.map(|_| "revoked").unwrap_or("active");
                if json {
                    let outbox = d.outbox.map(|o| {
                        serde_json::json!({
                            "pending": o.pending, "not_accepted": o.not_accepted,
                            "oldest_pending_at": o.oldest_at, "reported_at": o.reported_at,
                        })
                    });
                    println!(
                        "{}",
                        serde_json::json!({
                            "device": d.id, "school": d.school, "user": d.user,
                            "label": d.label, "created_at": d.created_at,
                            "last_seen": d.last_seen, "revoked_at": d.revoked_at,
                            "outbox": outbox,
                        })
                    );
                } else {
                    let outbox = match d.outbox {
                        None => "outbox not reported".to_string(),
                        Some(o) if o.pending == 0 && o.not_accepted == 0 => {
                            "outbox: all sent".to_string()
                        }
                        Some(o) => format!(
                            "outbox: {} waiting, {} not accepted",
                            o.pending, o.not_accepted
                        ),
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        d.id, d.school, d.user, d.label, revoked, outbox
                    );
                }
            }
        }
        AdminCommand::Revoke { device } => {
            if admin::revoke(st, now, &device)? {
                println!("revoked {device}");
            } else {
                println!("{device} was revoked already");
            }
        }
        AdminCommand::Audit {
            check: Some(AuditCheck::Verify),
            ..
        } => {
            let v = admin::verify_audit(st)?;
            println!(
                "{} audit rows, {} from before the chain",
                v.rows, v.unlinked
            );
            if let Some((seq, hash)) = &v.head {
                println!(
                    "head: row {seq}, {hash} (note it down: rows cut off the end show only against it)"
                );
            }
            if let Some(seq) = v.broken_at {
                bail!(
                    "the audit log was altered: the link of row {seq} does not match (that row, \
                     or one before it, was changed, removed or inserted)"
                );
            }
            println!("every link holds");
        }
        AdminCommand::Audit {
            check: None,
            pupil,
            staff,
            action,
            format,
        } => {
            let filter = match (pupil, staff, action) {
                (Some(p), None, None) => AuditFilter::Pupil(p),
                (None, Some(s), None) => AuditFilter::Staff(s),
                (None, None, Some(a)) => AuditFilter::Action(
                    omkijken_server::storage::AuditAction::parse(&a)
                        .with_context(|| format!("no such audit action: {a}"))?,
                ),
                _ => bail!("give --pupil, --staff or --action"),
            };
            let rows = admin::export_audit(st, now, &filter)?;
            match format {
                Format::Csv => print!("{}", admin::audit_csv(&rows)?),
                Format::Json => print!("{}", admin::audit_json_lines(&rows)),
            }
        }
        AdminCommand::ErasePupil { school, pupil } => {
            let n = admin::erase_pupil(st, &writer_actor(), now, &school, &pupil)?;
            println!("erased {n} documents");
        }
        AdminCommand::Retention {
            school,
            pupil_file_years,
            incident_years,
            meldcode_case_years,
            school_year_ends,
            dry_run,
            apply,
        } => {
            school_exists(st, &school)?;
            let mut policy = retention::policy(st, &school)?;
            let r = &mut policy.retention;
            let before = r.clone();
            if let Some(y) = pupil_file_years {
                r.pupil_file_years = y;
            }
            if let Some(y) = incident_years {
                r.incident_years = Some(y);
            }
            if let Some(y) = meldcode_case_years {
                r.meldcode_case_years = Some(y);
            }
            if let Some(d) = school_year_ends {
                r.school_year_ends = d;
            }
            if *r != before {
                retention::set_policy(st, &school, &policy)?;
                println!("retention terms changed");
            }
            let r = &policy.retention;
            println!(
                "pupil file: {} years after leaving; signals: {} years after leaving; \
                 meldcode cases: {}; thermometer: to the end of the school year ({})",
                r.pupil_file_years,
                r.incident_years.unwrap_or(r.pupil_file_years),
                r.meldcode_case_years
                    .map(|y| format!("{y} years after leaving"))
                    .unwrap_or_else(|| "not erased by retention (no term set)".into()),
                r.school_year_ends
            );
            if dry_run {
                let today = jiff::Timestamp::from_millisecond(now)?
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date();
                for e in retention::schedule(st, &school)? {
                    let when = match e.held {
                        Some(why) => format!("held: {why}"),
                        None if today > e.due => "goes at the next run".into(),
                        None => format!("goes after {}", e.due),
                    };
                    println!("{}\t{}\t{}\t{}\t{when}", e.due, e.kind, e.pupil, e.id);
                }
            }
            if apply {
                let gone = retention::apply(st, now)?;
                println!("erased {} documents", gone.len());
            }
        }
        AdminCommand::EraseRecord { school, document } => {
            let id = document
                .parse()
                .map_err(|_| anyhow::anyhow!("--document is not a document id"))?;
            admin::erase_record(st, now, &school, id)?;
            println!("erased; devices purge it at their next sync");
        }
        AdminCommand::ExportPupil {
            school,
            pupil,
            to,
            requested_on,
        } => {
            let json = to.with_extension("json");
            if to.exists() || json.exists() {
                anyhow::bail!("the export file exists already; give a new name");
            }
            let today = jiff::Timestamp::from_millisecond(now)?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let requested = match requested_on {
                Some(d) => d
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--requested-on must be YYYY-MM-DD"))?,
                None => today,
            };
            let d = dossier::export(st, now, &school, &pupil, None, requested)?;
            write_private(&to, &d.to_pdf())?;
            write_private(&json, d.to_json().as_bytes())?;
            let n: usize = d.sections.iter().map(|s| s.items.len()).sum();
            println!(
                "wrote {} and {} ({n} records); the export is in the audit log. \
                 The files hold care data: hand them over in person or encrypted.",
                to.display(),
                json.display()
            );
        }
        AdminCommand::Settings {
            school,
            leader_name,
            leader_phone,
            file,
            default_template,
            conversations_per_year,
            thermometer_months,
            parent_names,
            json,
        } => {
            let mut s = admin::school_settings(st, &school)?;
            let before = s.clone();
            if let Some(f) = &file {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                s.merge_json(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            }
            if leader_name.is_some() {
                s.leader_name = leader_name;
            }
            if leader_phone.is_some() {
                s.leader_phone = leader_phone;
            }
            if default_template.is_some() {
                s.default_template = default_template;
            }
            if conversations_per_year.is_some() {
                s.conversations_per_year = conversations_per_year;
            }
            if let Some(m) = thermometer_months {
                s.thermometer_months = m;
            }
            if s != before && admin::set_school_settings(st, &writer_actor(), now, &school, &s)? {
                println!("settings changed; devices get them at their next sync");
            }
            if let Some(names) = parent_names
                && admin::set_parent_names(st, &writer_actor(), now, &school, names)?
            {
                println!("parents' names setting changed; devices get it at their next sync");
            }
            if json {
                println!("{}", s.to_json());
            } else {
                println!(
                    "leader: {}, phone: {}",
                    s.leader_name.as_deref().unwrap_or("(not set)"),
                    s.leader_phone.as_deref().unwrap_or("(not set)")
                );
                println!(
                    "templates: {} of the school, new kindgesprek: {}; {} kindgesprekken a year; \
                     thermometer scales set for: {}; thermometer months: {}",
                    s.templates.len(),
                    s.default_template(),
                    s.conversations_per_year(),
                    if s.thermometer.is_empty() {
                        "none (defaults)".to_string()
                    } else {
                        s.thermometer.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                    if s.thermometer_months.is_empty() {
                        "every month".to_string()
                    } else {
                        s.thermometer_months
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
                println!(
                    "parents' names on an oudercontact: {}",
                    if admin::roster(st, &school)?.parent_names {
                        "recorded"
                    } else {
                        "not recorded (role only)"
                    }
                );
            }
        }
        AdminCommand::Incidents {
            school,
            from,
            to,
            set_threshold,
        } => {
            school_exists(st, &school)?;
            if let Some(t) = set_threshold {
                if t == 0 {
                    anyhow::bail!("the threshold is at least 1");
                }
                let mut p = retention::policy(st, &school)?;
                p.register_threshold = t;
                retention::set_policy(st, &school, &p)?;
            }
            print!("{}", register::build(st, &school, &from, &to)?.to_csv());
        }
        AdminCommand::Hold {
            school,
            pupil,
            release,
        } => {
            retention::set_hold(st, now, &school, &pupil, !release)?;
            println!(
                "{}",
                if release {
                    "hold lifted"
                } else {
                    "hold placed"
                }
            );
        }
        AdminCommand::AddAdmin { name, role } => {
            let password = match std::env::var("OMKIJKEN_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!("password (at least 12 characters), then Enter:");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let role = match role {
                RoleArg::ItAdmin => omkijken_server::storage::AdminRole::ItAdmin,
                RoleArg::PrivacyOfficer => omkijken_server::storage::AdminRole::PrivacyOfficer,
            };
            let new = omkijken_server::console::add_admin(st, now, &name, role, &password)?;
            println!(
                "{} admin account {name} ({})",
                if new { "created" } else { "updated" },
                role.as_str()
            );
        }
        AdminCommand::AfterRestore => {
            st.renew_epoch()?;
            println!(
                "new store lineage: devices catch up from the start at their next sync and send \
                 again what the store lacks"
            );
        }
        AdminCommand::Backup { .. }
        | AdminCommand::Restore { .. }
        | AdminCommand::Backups
        | AdminCommand::RotateKey => {
            unreachable!("handled before the store is opened")
        }
    }
    Ok(())
}

/// Write a file only its owner can read (0600 on Unix).
/// Fails with "no such school" for a school the store does not have.
fn school_exists(st: &mut dyn Storage, school: &str) -> anyhow::Result<()> {
    if st.school(school)?.is_none() {
        bail!("no such school");
    }
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)?;
    Ok(())
}

/// A fresh Automerge actor for one admin write of the roster document (never reused).
fn writer_actor() -> automerge::ActorId {
    let mut actor = [0u8; 16];
    rand::rng().fill_bytes(&mut actor);
    automerge::ActorId::from(actor.as_slice())
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
