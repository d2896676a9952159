//! The pages' texts in Dutch and English ([`t`]).

use super::Lang;

/// The text of `key` in `lang`.
pub(super) fn t(lang: Lang, key: &str) -> &'static str {
    let (nl, en) = match key {
        "title" => ("Omkijken beheer", "Omkijken admin"),
        "sign_in" => ("Inloggen", "Sign in"),
        "name" => ("Naam", "Name"),
        "password" => ("Wachtwoord", "Password"),
        "bad_login" => ("Naam of wachtwoord onjuist.", "Wrong name or password."),
        "throttled" => (
            "Te veel mislukte pogingen. Probeer het later opnieuw.",
            "Too many failed attempts. Try again later.",
        ),
        "sign_out" => ("Uitloggen", "Sign out"),
        "sign_in_oidc" => (
            "Inloggen met je schoolaccount",
            "Sign in with your school account",
        ),
        "bad_oidc" => (
            "Inloggen via het schoolaccount is niet gelukt.",
            "Signing in with the school account failed.",
        ),
        "no_account" => (
            "Dit schoolaccount heeft geen beheerdersaccount in Omkijken.",
            "This school account has no admin account in Omkijken.",
        ),
        "roster" => ("Leerlingen en personeel", "Roster"),
        "devices" => ("Apparaten", "Devices"),
        "enroll" => ("Apparaat koppelen", "Enroll a device"),
        "activity" => ("Activiteit", "Activity"),
        "audit" => ("Auditlog", "Audit log"),
        "school" => ("School", "School"),
        "csv" => ("Roosterbestand (CSV)", "Roster file (CSV)"),
        "preview" => ("Bekijk wijzigingen", "Preview changes"),
        "import" => ("Importeren", "Import"),
        "imported" => ("Het rooster is geïmporteerd.", "The roster was imported."),
        "no_changes" => ("Geen wijzigingen.", "No changes."),
        "added" => ("Nieuwe leerlingen", "Pupils added"),
        "left" => ("Vertrokken leerlingen", "Pupils who left"),
        "moved" => ("Naar een andere groep", "Moved to another group"),
        "mentors" => ("Mentor gewijzigd", "Mentors changed"),
        "care_opened" => ("Zorgtraject geopend", "Care track opened"),
        "care_closed" => ("Zorgtraject gesloten", "Care track closed"),
        "staff_added" => ("Nieuw personeel", "Staff added"),
        "staff_left" => ("Vertrokken personeel", "Staff who left"),
        "pupil" => ("Leerling", "Pupil"),
        "group" => ("Groep", "Group"),
        "from" => ("Van", "From"),
        "to" => ("Tot en met", "To"),
        "before" => ("Voor", "Before"),
        "after" => ("Na", "After"),
        "device" => ("Apparaat", "Device"),
        "user" => ("Gebruiker", "User"),
        "label" => ("Omschrijving", "Label"),
        "enrolled" => ("Gekoppeld", "Enrolled"),
        "last_sync" => ("Laatst gesynchroniseerd", "Last sync"),
        "outbox" => ("nog te versturen", "outbox"),
        "outbox_note" => (
            "Onder de laatste sync staat wat er nog te versturen was, zoals het apparaat het bij \
             zijn laatste sync meldde: wachtend zijn wijzigingen die de server nog niet heeft; \
             niet geaccepteerd zijn wijzigingen die de server weigerde en die op het apparaat \
             voor de auteur bewaard blijven. Alleen aantallen, nooit inhoud.",
            "Under the last sync: the outbox as the device reported it at its last sync. \
             Waiting are changes the server does not have yet; not accepted are changes the \
             server refused, kept on the device for their author. Counts only, never content.",
        ),
        "outbox_not_reported" => ("niet gemeld", "not reported"),
        "all_sent" => ("alles verstuurd", "all sent"),
        "waiting" => ("wachtend", "waiting"),
        "oldest" => ("oudste", "oldest"),
        "not_accepted" => ("niet geaccepteerd", "not accepted"),
        "at_last_sync" => ("bij laatste sync", "at last sync"),
        "day" => ("dag", "day"),
        "days" => ("dagen", "days"),
        "hour" => ("uur", "hour"),
        "hours" => ("uur", "hours"),
        "minutes" => ("min", "min"),
        "status" => ("Status", "Status"),
        "active" => ("actief", "active"),
        "revoked" => ("ingetrokken", "revoked"),
        "revoke" => ("Intrekken", "Revoke"),
        "never" => ("nog niet", "not yet"),
        "pupil_session" => ("leerlingmodus", "pupil mode"),
        "staff" => ("Medewerker", "Staff member"),
        "make_qr" => ("Maak QR-code", "Make QR code"),
        "scan" => (
            "Scan deze code met de Omkijken-app op het apparaat van",
            "Scan this code with the Omkijken app on the device of",
        ),
        "code" => ("Koppelcode (eenmalig)", "Enrollment code (one time)"),
        "valid_until" => ("Geldig tot", "Valid until"),
        "chart" => (
            "Wijzigingen die apparaten stuurden of kregen, en weigeringen, per dag (uit de auditlog)",
            "Changes devices sent or received, and refusals, per day (from the audit log)",
        ),
        "syncs" => (
            "wijzigingen ontvangen en afgeleverd",
            "changes received and delivered",
        ),
        "refusals" => ("weigeringen", "refusals"),
        "search" => ("Zoeken", "Search"),
        "when" => ("Wanneer", "When"),
        "action" => ("Actie", "Action"),
        "document" => ("Document", "Document"),
        "kind" => ("Soort", "Kind"),
        "rows" => ("regels", "rows"),
        "forbidden" => ("Uw rol mag dit niet.", "Your role may not do this."),
        "error" => ("Er ging iets mis", "Something went wrong"),
        "csrf" => (
            "Dit formulier is verlopen of kwam niet van deze pagina. Laad de pagina opnieuw.",
            "This form expired or did not come from this page. Reload the page.",
        ),
        "schools" => ("Scholen", "Schools"),
        "health" => ("Status van de server", "Server health"),
        "health_ok" => ("De server werkt.", "The server is working."),
        "storage" => ("Opslag", "Storage"),
        "catalog_seq" => ("Catalogusvolgnummer", "Catalog sequence"),
        "active_devices" => ("Actieve apparaten", "Active devices"),
        "school_id" => ("Schoolcode", "School id"),
        "created" => ("Aangemaakt", "Created"),
        "staff_count" => ("Actief personeel", "Active staff"),
        "no_schools" => ("Er zijn nog geen scholen.", "There are no schools yet."),
        "settings" => ("Instellingen", "Settings"),
        "choose" => ("Kies", "Choose"),
        "lease" => ("Offline-termijn", "Offline lease"),
        "lease_days" => (
            "Dagen zonder synchronisatie (0: geen termijn)",
            "Days without a sync (0: none)",
        ),
        "lease_help" => (
            "Zo lang mag een apparaat zonder geslaagde synchronisatie; daarna gaat de app op slot. \
             Apparaten horen een nieuwe termijn bij hun volgende synchronisatie.",
            "How long a device may go without a completed sync before the app locks. Devices \
             learn a new lease at their next sync.",
        ),
        "retention" => ("Bewaartermijnen", "Retention terms"),
        "pupil_file_years" => (
            "Jaren dat het leerlingdossier bewaard blijft na vertrek",
            "Years the pupil file is kept after the pupil left",
        ),
        "incident_years" => (
            "Jaren voor signalen (leeg: als het dossier)",
            "Years for signals (empty: as the pupil file)",
        ),
        "meldcode_case_years" => (
            "Jaren voor meldcodedossiers (leeg: niet automatisch wissen)",
            "Years for meldcode cases (empty: not erased by retention)",
        ),
        "school_year_ends" => (
            "Laatste dag van het schooljaar (MM-DD)",
            "Last day of the school year (MM-DD)",
        ),
        "save" => ("Opslaan", "Save"),
        "saved" => ("Opgeslagen.", "Saved."),
        "unchanged" => (
            "Niets gewijzigd: dit was al zo.",
            "Nothing changed: it was so already.",
        ),
        "bad_number" => ("Vul een heel getal in.", "Enter a whole number."),
        "backups" => ("Back-ups", "Backups"),
        "start_backup" => ("Maak nu een back-up", "Start a backup now"),
        "backup_done" => ("Back-up gemaakt", "Backup taken"),
        "documents" => ("documenten", "documents"),
        "bytes" => ("bytes", "bytes"),
        "file" => ("Bestand", "File"),
        "taken_at" => ("Gemaakt", "Taken"),
        "present" => ("Aanwezig", "Present"),
        "missing" => ("ontbreekt", "missing"),
        "yes" => ("ja", "yes"),
        "erased_since" => ("Sindsdien gewist", "Erased since"),
        "erased_since_help" => (
            "Een back-up met documenten die sindsdien zijn gewist, hoort vernietigd te worden.",
            "A backup that holds documents erased since should be destroyed.",
        ),
        "no_backups" => ("Er zijn nog geen back-ups.", "There are no backups yet."),
        "no_backup_dir" => (
            "De server heeft geen map voor back-ups (--backup-dir): starten kan hier niet.",
            "The server has no backup directory (--backup-dir): backups cannot be started here.",
        ),
        "privacy" => ("Privacy", "Privacy"),
        "export" => ("Inzage", "Inzage export"),
        "export_help" => (
            "Het volledige dossier van een leerling als PDF, voor een inzageverzoek van ouders. \
             Het downloaden komt in de auditlog.",
            "A pupil's full file as PDF, for a parent's inzage request. The download is written \
             to the audit log.",
        ),
        "requested_on" => ("Datum van het verzoek", "Date of the request"),
        "download_pdf" => ("Download inzage (PDF)", "Download inzage (PDF)"),
        "erase" => ("Dossier wissen", "Erase a pupil's file"),
        "erase_help" => (
            "Wist alle documenten over deze leerling op de server en op alle apparaten. \
             Dit kan niet ongedaan worden gemaakt.",
            "Erases every document about this pupil on the server and on every device. \
             This cannot be undone.",
        ),
        "erase_next" => ("Verder naar bevestigen", "Continue to confirm"),
        "erase_confirm" => ("Bevestig het wissen", "Confirm the erasure"),
        "erase_type" => (
            "Typ de leerlingcode nog een keer om te bevestigen",
            "Type the pupil id again to confirm",
        ),
        "erase_now" => ("Definitief wissen", "Erase for good"),
        "cancel" => ("Annuleren", "Cancel"),
        "erase_mismatch" => (
            "De leerlingcode komt niet overeen. Er is niets gewist.",
            "The pupil id does not match. Nothing was erased.",
        ),
        "erased" => ("Gewist: documenten over", "Erased: documents about"),
        _ => ("?", "?"),
    };
    match lang {
        Lang::Nl => nl,
        Lang::En => en,
    }
}
