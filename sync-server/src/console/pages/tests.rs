use super::devices::{duration, outbox_cell};
use super::text::{t, text_lines};
use super::*;

#[test]
fn html_is_escaped() {
    assert_eq!(
        esc("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}

#[test]
fn every_text_line_is_a_key_and_two_texts_once() {
    let mut keys = std::collections::HashSet::new();
    for line in text_lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert!(keys.insert(fields[0]), "{} twice", fields[0]);
        assert_ne!(t(Lang::Nl, fields[0]), "?");
    }
}

#[test]
fn every_key_the_pages_use_has_both_languages() {
    for key in [
        "title",
        "sign_in",
        "roster",
        "devices",
        "enroll",
        "activity",
        "audit",
        "preview",
        "import",
        "revoke",
        "chart",
        "syncs",
        "refusals",
        "forbidden",
        "csrf",
        "outbox",
        "outbox_note",
        "outbox_not_reported",
        "all_sent",
        "waiting",
        "oldest",
        "not_accepted",
        "at_last_sync",
        "day",
        "days",
        "hour",
        "hours",
        "minutes",
        "schools",
        "health",
        "settings",
        "lease",
        "retention",
        "backups",
        "start_backup",
        "privacy",
        "export",
        "erase",
        "erase_confirm",
        "erase_type",
        "erase_mismatch",
        "audit_check",
        "audit_check_help",
        "check_now",
        "audit_intact",
        "audit_broken",
        "audit_broken_help",
        "audit_empty",
        "rows_checked",
        "rows_unlinked",
        "audit_head",
        "legal_hold",
        "legal_hold_help",
        "no_holds",
        "since",
        "place_hold",
        "lift_hold",
        "hold_placed",
        "hold_lifted",
        "school_settings",
        "school_settings_help",
        "settings_json",
        "bad_settings",
        "line",
        "column",
        "not_saved",
    ] {
        assert_ne!(t(Lang::Nl, key), "?", "{key}");
        assert_ne!(t(Lang::En, key), "?", "{key}");
    }
}

#[test]
fn the_chart_has_a_bar_pair_per_day() {
    let days: Vec<api::Day> = (1..=3)
        .map(|i| api::Day {
            day: format!("2026-12-0{i}"),
            writes: i * 2,
            deliveries: 0,
            refusals: i,
        })
        .collect();
    let s = chart_svg(Lang::Nl, &days);
    assert_eq!(s.matches("class=\"syncs\"").count(), 3);
    assert_eq!(s.matches("class=\"refusals\"").count(), 3);
    assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
}

#[test]
fn the_outbox_cell_says_what_waits_in_both_languages() {
    const DAY: i64 = 86_400_000;
    let now = 1_795_338_000_000;
    let report = |pending, not_accepted, oldest| api::OutboxInfo {
        pending,
        not_accepted,
        oldest_pending_at: oldest,
        reported_at: now - DAY,
    };
    let text = |lang, o: Option<api::OutboxInfo>| {
        let c = outbox_cell(lang, o.as_ref(), now);
        let inner = c.split_once('>').map(|(_, r)| r).unwrap_or_default();
        inner.trim_end_matches("</div>").to_string()
    };
    assert_eq!(text(Lang::Nl, Some(report(0, 0, None))), "alles verstuurd");
    assert_eq!(text(Lang::En, Some(report(0, 0, None))), "all sent");
    assert_eq!(
        text(Lang::Nl, Some(report(3, 0, Some(now - 2 * DAY - 5_000)))),
        "3 wachtend, oudste 2 dagen"
    );
    assert_eq!(
        text(Lang::En, Some(report(1, 0, Some(now - 3 * 3_600_000)))),
        "1 waiting, oldest 3 hours"
    );
    assert_eq!(
        text(Lang::Nl, Some(report(0, 1, None))),
        "1 niet geaccepteerd"
    );
    assert_eq!(
        text(Lang::En, Some(report(2, 1, Some(now - DAY)))),
        "2 waiting, oldest 1 day; 1 not accepted"
    );
    assert!(text(Lang::Nl, None).contains("niet gemeld"));
    let full = outbox_cell(Lang::Nl, Some(&report(0, 0, None)), now);
    assert!(full.contains("title=\"bij laatste sync ("), "{full}");
    let waiting = outbox_cell(Lang::Nl, Some(&report(0, 1, None)), now);
    assert!(
        waiting.starts_with("<div class=\"outbox waiting\""),
        "{waiting}"
    );
    assert_eq!(duration(Lang::Nl, 90_000), "1 min");
    assert_eq!(duration(Lang::En, -5), "0 min");
}
