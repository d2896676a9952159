//! One-shot requests of an enrolled device on `/v1/request` (docs/protocol.md, "Requests"):
//! erase a whole record that should never have been written, and the inzage dossier of a
//! pupil. The device's token authenticates it; the rules are decided here, on the server, for
//! every request. A document the user may not read answers exactly as one that does not exist.

use crate::admin;
use crate::storage::{AuditAction, AuditRecord, Batch, Device, Storage};
use crate::{Error, tokens};
use automerge::Automerge;
use omkijken_core::model::{Kind, Role, Roster, Signal};
use omkijken_core::sync::{ErrorCode, Frame};
use omkijken_core::{DocumentId, access, doc};

fn error(code: ErrorCode, message: &str) -> Frame {
    Frame::Error {
        code,
        message: message.into(),
    }
}

/// The `Forbidden` answer saying `why`, unless `device`'s user is active staff with `role`.
fn unless_staff_with(roster: &Roster, device: &Device, role: Role, why: &str) -> Option<Frame> {
    let has = roster
        .active_staff(&device.user)
        .is_some_and(|s| s.has(role));
    (!has).then(|| error(ErrorCode::Forbidden, why))
}

/// The device behind `token`, if it is enrolled and not revoked.
fn device(st: &mut dyn Storage, token: &str) -> Result<Device, Frame> {
    match st.device_by_token(&tokens::token_hash(token)) {
        Ok(Some(d)) if d.revoked_at.is_none() => Ok(d),
        Ok(_) => Err(error(ErrorCode::Unauthorized, "not an enrolled device")),
        Err(e) => {
            tracing::error!(error = %e, "device lookup failed");
            Err(error(ErrorCode::Internal, "server error"))
        }
    }
}

/// The device behind `token` when it may ask anything: enrolled, not revoked, and not a
/// pupil session (which asks nothing: it adds its pupils' readings and no more).
fn asking(st: &mut dyn Storage, token: &str) -> Result<Device, Frame> {
    let device = device(st, token)?;
    if device.scope.is_some() {
        return Err(error(ErrorCode::Forbidden, "not for a pupil session"));
    }
    Ok(device)
}

/// Whether `frame` is a request that only reads (the dossier, the incident register): the
/// server answers it with [`read_only`] on a storage connection of its own, beside the hub,
/// so that building it over a large school does not hold up the devices' syncs.
pub fn only_reads(frame: &Frame) -> bool {
    matches!(
        frame,
        Frame::ExportDossier { .. } | Frame::IncidentRegister { .. }
    )
}

/// Answer a request that only reads ([`only_reads`]): the answer, and the audit rows the
/// caller must write (through the hub, which links them into the chain) before it sends
/// the answer. Any other frame is answered `malformed`.
pub fn read_only(
    st: &mut dyn Storage,
    now: i64,
    token: &str,
    frame: Frame,
) -> (Frame, Vec<AuditRecord>) {
    let device = match asking(st, token) {
        Ok(d) => d,
        Err(f) => return (f, vec![]),
    };
    let result = match frame {
        Frame::ExportDossier {
            pupil,
            requested_on,
        } => dossier(st, now, &device, &pupil, &requested_on),
        Frame::IncidentRegister { from, to } => {
            register(st, &device, &from, &to).map(|f| (f, vec![]))
        }
        _ => Ok((
            error(ErrorCode::Malformed, "expected a request frame"),
            vec![],
        )),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "request failed");
        (error(ErrorCode::Internal, "server error"), vec![])
    })
}

/// Answer one request. Returns the answer and whether documents were erased (the caller
/// then tells live devices to purge).
pub fn handle(
    st: &mut dyn Storage,
    rng: &mut dyn rand::RngCore,
    now: i64,
    token: &str,
    frame: Frame,
) -> (Frame, bool) {
    let device = match asking(st, token) {
        Ok(d) => d,
        Err(f) => return (f, false),
    };
    let result = match frame {
        Frame::EraseRecord { document_id } => erase_record(st, now, &device, document_id),
        Frame::ExportDossier {
            pupil,
            requested_on,
        } => export(st, now, &device, &pupil, &requested_on).map(|f| (f, false)),
        Frame::SetCareTrack {
            pupil,
            in_care,
            reason,
        } => care_track(
            st,
            now,
            &device,
            &pupil,
            in_care,
            &reason,
            &roster_actor(rng),
        ),
        Frame::IncidentRegister { from, to } => {
            register(st, &device, &from, &to).map(|f| (f, false))
        }
        Frame::SetSchoolSettings { settings } => {
            school_settings(st, now, &device, &settings, &roster_actor(rng)).map(|f| (f, false))
        }
        Frame::StartPupilSession { group, hours } => {
            pupil_session(st, rng, now, &device, &group, hours).map(|f| (f, false))
        }
        _ => Ok((
            error(ErrorCode::Malformed, "expected a request frame"),
            false,
        )),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "request failed");
        (error(ErrorCode::Internal, "server error"), false)
    })
}

/// The writer of a roster change a request makes: from the hub's generator (seeded in a
/// simulation, so a run replays exactly).
fn roster_actor(rng: &mut dyn rand::RngCore) -> automerge::ActorId {
    let mut actor = [0u8; 16];
    rng.fill_bytes(&mut actor);
    automerge::ActorId::from(actor.as_slice())
}

/// The audit row of a request `device` made, without document.
fn device_audit(now: i64, device: &Device, action: AuditAction) -> AuditRecord {
    AuditRecord {
        device: Some(device.id.clone()),
        user: Some(device.user.clone()),
        ..AuditRecord::new(now, &device.school, action)
    }
}

fn erase_record(
    st: &mut dyn Storage,
    now: i64,
    device: &Device,
    id: DocumentId,
) -> crate::Result<(Frame, bool)> {
    let not_found = || Ok((error(ErrorCode::NotFound, "no such document"), false));
    let Some(row) = st.catalog_get(&[id])?.into_iter().next() else {
        return not_found();
    };
    if row.erased || row.header.school != device.school {
        return not_found();
    }
    let roster = admin::roster(st, &device.school)?;
    if access::access(&roster, &device.user, &row.header, &row.fields) < access::Access::Read {
        return not_found();
    }
    let draft = if row.header.kind == Kind::Signal.as_str() && row.header.author == device.user {
        let bytes = st
            .load_doc(id)?
            .ok_or(Error::Corrupt("a listed document"))?;
        let d = Automerge::load(&bytes)?;
        doc::record::<Signal>(id, &d).is_ok_and(|s| !s.shared)
    } else {
        false
    };
    if !access::may_erase(&roster, &device.user, &row.header, &row.fields, draft) {
        return Ok((
            error(
                ErrorCode::Forbidden,
                "only a care coordinator, or the author of a private note or draft, erases a record",
            ),
            false,
        ));
    }
    // A signal's notes go with it.
    let notes = admin::notes_of_signal(st, &row)?;
    let erased: Vec<&crate::storage::CatalogRow> = std::iter::once(&row).chain(&notes).collect();
    st.commit(Batch::erasure(
        now,
        &device.school,
        erased.iter().map(|r| r.id).collect(),
        erased
            .iter()
            .map(|r| device_audit(now, device, AuditAction::Erase).about(r.id, &r.header))
            .collect(),
    ))?;
    tracing::info!(document = %id, device = %device.id, "record erased at a device's request");
    Ok((Frame::Erased { document_id: id }, true))
}

fn care_track(
    st: &mut dyn Storage,
    now: i64,
    device: &Device,
    pupil: &str,
    in_care: bool,
    reason: &str,
    actor: &automerge::ActorId,
) -> crate::Result<(Frame, bool)> {
    let roster = admin::roster(st, &device.school)?;
    let why = "only the care team opens or closes a care track";
    if let Some(refusal) = unless_staff_with(&roster, device, Role::CareCoordinator, why) {
        return Ok((refusal, false));
    }
    if !roster.pupils.get(pupil).is_some_and(|p| p.active) {
        return Ok((error(ErrorCode::NotFound, "no such pupil"), false));
    }
    match admin::set_care_track(
        st,
        now,
        &device.school,
        admin::CareTrackChange {
            pupil,
            in_care,
            reason,
        },
        Some((&device.id, &device.user)),
        actor,
    ) {
        Ok(changed) => Ok((
            Frame::CareTrack {
                pupil: pupil.into(),
                in_care,
            },
            changed,
        )),
        Err(Error::Invalid(_)) => Ok((error(ErrorCode::Malformed, "unknown reason code"), false)),
        Err(e) => Err(e),
    }
}

/// The school leader changes the school's settings: merged like `admin settings --file`,
/// written into the roster document (devices get them at their next sync), audited with the
/// device and user.
fn school_settings(
    st: &mut dyn Storage,
    now: i64,
    device: &Device,
    json: &str,
    actor: &automerge::ActorId,
) -> crate::Result<Frame> {
    let roster = admin::roster(st, &device.school)?;
    let why = "the school's settings are the school leader's";
    if let Some(refusal) = unless_staff_with(&roster, device, Role::SchoolLeader, why) {
        return Ok(refusal);
    }
    let mut settings = admin::school_settings(st, &device.school)?;
    if json.len() > 256 * 1024 || settings.merge_json(json).is_err() {
        return Ok(error(
            ErrorCode::Malformed,
            "settings: a JSON object of known settings that fit (docs/protocol.md)",
        ));
    }
    if admin::set_school_settings(st, actor, now, &device.school, &settings)? {
        st.commit(Batch {
            audit: vec![AuditRecord {
                document: Some(doc::roster_id(&device.school)),
                ..device_audit(now, device, AuditAction::SchoolSettings)
            }],
            ..Default::default()
        })?;
    }
    Ok(Frame::SchoolSettings {
        settings: settings.to_json(),
    })
}

/// How long the one-time code of a pupil session is valid: its store enrolls at once.
const PUPIL_CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// Start a pupil session (pupil mode, docs/mobile.md): a teacher of the group or a mentor of
/// one of its pupils, who may add their thermometer readings. The server decides the scope
/// (the session id, the group, the scale per age band from the school's settings, the
/// expiry) and keeps it with a one-time code; the session's own store enrolls with the code
/// and its device gets the scope, which the hub and the record rules enforce.
fn pupil_session(
    st: &mut dyn Storage,
    rng: &mut dyn rand::RngCore,
    now: i64,
    device: &Device,
    group: &str,
    hours: u32,
) -> crate::Result<Frame> {
    use omkijken_core::model::pupil_session::MAX_SESSION_HOURS;
    use omkijken_core::model::{AgeBand, PupilScope};
    if !(1..=MAX_SESSION_HOURS).contains(&hours) {
        return Ok(error(
            ErrorCode::Malformed,
            "a pupil session lasts 1 to 72 hours",
        ));
    }
    let roster = admin::roster(st, &device.school)?;
    let Some(g) = roster.groups.get(group) else {
        return Ok(error(ErrorCode::NotFound, "no such group"));
    };
    let teaches = g.teachers.iter().any(|t| t == &device.user);
    let mentors = roster
        .pupils
        .values()
        .any(|p| p.active && p.group == group && roster.is_mentor_of(&device.user, &p.id));
    if roster.active_staff(&device.user).is_none() || !(teaches || mentors) {
        return Ok(error(
            ErrorCode::Forbidden,
            "a pupil session is for a teacher or mentor of the group",
        ));
    }
    let settings = admin::school_settings(st, &device.school)?;
    let scales = [AgeBand::Po1to4, AgeBand::Po5to8, AgeBand::VoMbo]
        .into_iter()
        .map(|b| {
            (
                b.as_str().to_string(),
                settings.scale_for(b).scale.id.to_string(),
            )
        })
        .collect();
    let mut session = [0u8; 16];
    rng.fill_bytes(&mut session);
    let scope = PupilScope {
        session: format!("ps-{}", bs58::encode(session).into_string()),
        group: group.to_string(),
        scales,
        expires_at: now + i64::from(hours) * 3600 * 1000,
    };
    let code = tokens::new_code(rng);
    st.commit(Batch {
        codes: vec![crate::storage::EnrollmentCode {
            code_hash: tokens::code_hash(&code),
            school: device.school.clone(),
            user: device.user.clone(),
            created_at: now,
            expires_at: now + PUPIL_CODE_TTL_MS,
            scope: Some(scope.to_json()),
        }],
        audit: vec![device_audit(now, device, AuditAction::CodeIssued)],
        ..Default::default()
    })?;
    tracing::info!(device = %device.id, "pupil session started");
    Ok(Frame::PupilSession { code, scope })
}

fn register(st: &mut dyn Storage, device: &Device, from: &str, to: &str) -> crate::Result<Frame> {
    let roster = admin::roster(st, &device.school)?;
    let allowed = roster.active_staff(&device.user).is_some_and(|s| {
        s.has(Role::SchoolLeader)
            || s.has(Role::AntiBullyingCoordinator)
            || s.has(Role::CareCoordinator)
    });
    if !allowed {
        return Ok(error(
            ErrorCode::Forbidden,
            "the register is for the school leader, the anti-bullying coordinator and the care team",
        ));
    }
    let r = match crate::register::build(st, &device.school, from, to) {
        Ok(r) => r,
        Err(Error::Invalid(_)) => {
            return Ok(error(
                ErrorCode::Malformed,
                "months are YYYY-MM, from not after to",
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(Frame::Register {
        threshold: r.threshold,
        csv: r.to_csv(),
        signals: r
            .signals
            .into_iter()
            .map(|s| omkijken_core::sync::frames::RegisterSignals {
                month: s.month,
                category: s.category,
                route: s.route.into(),
                count: s.signals,
            })
            .collect(),
        cases: r
            .cases
            .into_iter()
            .map(|c| omkijken_core::sync::frames::RegisterCases {
                month: c.month,
                opened: c.opened,
                closed: c.closed,
            })
            .collect(),
    })
}

fn export(
    st: &mut dyn Storage,
    now: i64,
    device: &Device,
    pupil: &str,
    requested_on: &str,
) -> crate::Result<Frame> {
    let (answer, audit) = dossier(st, now, device, pupil, requested_on)?;
    if !audit.is_empty() {
        st.commit(Batch {
            audit,
            ..Default::default()
        })?;
    }
    Ok(answer)
}

/// The dossier a care coordinator asked for, and its `export` audit row (none when refused).
fn dossier(
    st: &mut dyn Storage,
    now: i64,
    device: &Device,
    pupil: &str,
    requested_on: &str,
) -> crate::Result<(Frame, Vec<AuditRecord>)> {
    let Ok(requested) = requested_on.parse::<jiff::civil::Date>() else {
        return Ok((
            error(ErrorCode::Malformed, "requestedOn must be YYYY-MM-DD"),
            vec![],
        ));
    };
    let roster = admin::roster(st, &device.school)?;
    let why = "only a care coordinator requests a dossier";
    if let Some(refusal) = unless_staff_with(&roster, device, Role::CareCoordinator, why) {
        return Ok((refusal, vec![]));
    }
    if !roster.pupils.contains_key(pupil) {
        return Ok((error(ErrorCode::NotFound, "no such pupil"), vec![]));
    }
    let today = crate::dossier::date_of(now);
    let d = crate::dossier::build(
        st,
        &device.school,
        pupil,
        Some(&device.user),
        requested,
        today,
    )?;
    let row =
        crate::dossier::export_row(now, &device.school, pupil, Some((&device.id, &device.user)));
    Ok((
        Frame::Dossier {
            json: d.to_json(),
            pdf: d.to_pdf(),
        },
        vec![row],
    ))
}
