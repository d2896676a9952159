//! The IT admin sets the school's settings (the acute screen's leader, the cadence of
//! kindgesprekken, ...) on the console's settings page, as JSON: a mentor's phone has them
//! after its next sync, on its acute screen too. A typo in the JSON or a value the
//! settings' check refuses saves nothing, says why (the line, or the field: never the
//! text), and keeps what was typed in the form.

use anyhow::{Context, Result};
use omkijken_core::model::SchoolSettings;
use omkijken_server::storage::AdminRole;
use omkijken_tests::console_client::{console_server, signed_in};
use omkijken_tests::*;

const IT: (&str, &str) = ("anna", "wachtwoord-van-anna-1");
const LEADER: &str = "Mevr. Ş. Öztürk-de Vries";

/// The settings text in the page's form, as typed there (HTML entities undone).
fn form_text(page: &str) -> Option<String> {
    let start = page.find("id=\"settings-json\"")?;
    let rest = &page[start..];
    let text = &rest[rest.find('>')? + 1..rest.find("</textarea>")?];
    Some(
        text.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The error paragraph's text.
fn error_of(page: &str) -> Option<&str> {
    let start = page.find("id=\"error\">")? + "id=\"error\">".len();
    let rest = &page[start..];
    Some(&rest[..rest.find("</p>")?])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_it_admin_sets_the_school_settings_and_phones_get_them() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, _) =
        console_server(tmp.path(), false, &[(IT.0, AdminRole::ItAdmin, IT.1)]).await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    mentor.sync().await?;
    assert_eq!(mentor.store.school_settings()?.leader_name, None);

    // 1. The page shows the settings as they are; the admin edits and saves them.
    let it = signed_in(&server, IT.0, IT.1).await?;
    let (status, page) = it.get(&format!("/settings?school={SCHOOL}"), "nl").await?;
    assert_eq!(status, 200);
    let mut edited: SchoolSettings =
        serde_json::from_str(&form_text(&page).context("the settings form")?)?;
    assert_eq!(edited, SchoolSettings::default());
    edited.leader_name = Some(LEADER.into());
    edited.leader_phone = Some("+31 30 123 4567".into());
    edited.conversations_per_year = Some(3);
    let json = serde_json::to_string_pretty(&edited)?;
    let (status, saved) = it
        .post_form(
            "/settings/school",
            &page,
            &[("school", SCHOOL), ("json", &json)],
            "nl",
        )
        .await?;
    assert_eq!(status, 200, "{saved}");
    assert!(saved.contains("id=\"saved\""), "{saved}");
    assert_eq!(
        serde_json::from_str::<SchoolSettings>(&form_text(&saved).unwrap())?,
        edited
    );

    // 2. The mentor's phone has them after its next sync, on the acute screen too.
    mentor.sync().await?;
    assert_eq!(mentor.store.school_settings()?, edited);
    let acute = mentor.store.acute_contacts()?;
    assert!(
        acute
            .iter()
            .any(|(nl, _, n)| nl.contains(LEADER) && n.as_deref() == Some("+31 30 123 4567")),
        "{acute:?}"
    );

    // 3. A typo in a key: not saved, the line named, the text kept as typed.
    let typo = json.replace("\"leader_phone\"", "\"leader_fone\"");
    let (status, refused) = it
        .post_form(
            "/settings/school",
            &saved,
            &[("school", SCHOOL), ("json", &typo)],
            "nl",
        )
        .await?;
    assert_eq!(status, 400, "{refused}");
    let why = error_of(&refused).context("an error")?;
    assert!(
        why.contains("Niet opgeslagen") && why.contains("regel"),
        "{why}"
    );
    assert_eq!(form_text(&refused).as_deref(), Some(typo.as_str()));

    // 4. A value the check refuses: the field named, never the text typed.
    let wrong = json.replace("+31 30 123 4567", "bel de conciërge");
    let (status, refused) = it
        .post_form(
            "/settings/school",
            &saved,
            &[("school", SCHOOL), ("json", &wrong)],
            "en",
        )
        .await?;
    assert_eq!(status, 400, "{refused}");
    let why = error_of(&refused).context("an error")?;
    assert!(why.contains("Not saved") && why.contains("phone"), "{why}");
    assert!(
        !why.contains("conciërge") && !why.contains("concierge"),
        "{why}"
    );
    assert_eq!(form_text(&refused).as_deref(), Some(wrong.as_str()));

    // Neither changed anything: the phone still reads what was saved.
    mentor.sync().await?;
    assert_eq!(mentor.store.school_settings()?, edited);
    let (_, page) = it.get(&format!("/settings?school={SCHOOL}"), "en").await?;
    assert_eq!(
        serde_json::from_str::<SchoolSettings>(&form_text(&page).unwrap())?,
        edited
    );
    server.handle.shutdown().await?;
    Ok(())
}
