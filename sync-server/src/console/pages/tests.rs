use super::text::t;
use super::*;

#[test]
fn html_is_escaped() {
    assert_eq!(
        esc("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
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
        "outbox_unknown",
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
