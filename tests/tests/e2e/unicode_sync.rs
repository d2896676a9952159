//! Unicode notes through the real server: a mentor and the care coordinator edit the same
//! kindgesprek notes offline (Dutch accents, combining marks, emoji, Hebrew and Arabic),
//! sync, and both read back the same text with each side's words in order, word for word.
//! Random cases from a seed that is printed (`OMKIJKEN_UNICODE_SEED` replays one run).

use anyhow::Result;
use omkijken_core::defaults::DEFAULT_TEMPLATE;
use omkijken_core::text::utf16_len;
use omkijken_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BASE: &[char] = &['a', 'e', 'é', 'ï', 'n', ' ', 'ö', '\u{301}'];
const MENTOR_CHARS: &[char] = &['ë', 'ü', 'á', 'ç', 'É', 'ñ'];
const COORDINATOR_CHARS: &[char] = &['😀', '👍', '🏽', 'ש', 'ל', 'م', 'ر', '🇳', '🇱'];

fn word(rng: &mut StdRng, alphabet: &[char], max: usize) -> String {
    let n = rng.random_range(1..=max);
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}

/// Insert `s` at a random char position of `model`; returns the UTF-16 position.
fn insert_at(rng: &mut StdRng, model: &mut String, s: &str) -> usize {
    let chars: Vec<char> = model.chars().collect();
    let at = rng.random_range(0..=chars.len());
    let pos = utf16_len(&chars[..at].iter().collect::<String>());
    let mut out: String = chars[..at].iter().collect();
    out.push_str(s);
    out.extend(&chars[at..]);
    *model = out;
    pos
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unicode_edits_merge_word_for_word_through_the_server() -> Result<()> {
    let seed: u64 = std::env::var("OMKIJKEN_UNICODE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("unicode sync: OMKIJKEN_UNICODE_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let tmp = tempfile::tempdir()?;
    let devices_dir = tmp.path().join("devices");
    std::fs::create_dir_all(&devices_dir)?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, &devices_dir, MENTOR, "mentor phone").await?;
    let coordinator =
        Device::enroll(&server, &devices_dir, COORDINATOR, "coordinator tablet").await?;
    mentor.sync().await?;
    coordinator.sync().await?;

    for case in 0..12 {
        // 1. The mentor writes a shared kindgesprek; both devices hold it.
        let id = mentor
            .store
            .start_conversation(PUPIL_IN_CARE, DEFAULT_TEMPLATE, "2026-12-01")?;
        let base = word(&mut rng, BASE, 20);
        mentor.store.set_notes(id, &base)?;
        mentor.store.share_conversation(id)?;
        mentor.sync().await?;
        coordinator.sync().await?;
        assert_eq!(coordinator.store.conversation(id)?.notes.as_str(), base);

        // 2. Offline on both: each inserts words of its own alphabet at random places.
        let (mut m, mut c) = (base.clone(), base.clone());
        for _ in 0..rng.random_range(1..5) {
            let w = word(&mut rng, MENTOR_CHARS, 4);
            let pos = insert_at(&mut rng, &mut m, &w);
            mentor.store.edit_notes(id, pos, 0, &w)?;
        }
        for _ in 0..rng.random_range(1..5) {
            let w = word(&mut rng, COORDINATOR_CHARS, 4);
            let pos = insert_at(&mut rng, &mut c, &w);
            coordinator.store.edit_notes(id, pos, 0, &w)?;
        }
        assert_eq!(mentor.store.conversation(id)?.notes.as_str(), m);
        assert_eq!(coordinator.store.conversation(id)?.notes.as_str(), c);

        // 3. Both sync; the mentor again to receive the coordinator's words.
        mentor.sync().await?;
        coordinator.sync().await?;
        mentor.sync().await?;
        let merged = mentor.store.conversation(id)?.notes.as_str().to_string();
        assert_eq!(
            coordinator.store.conversation(id)?.notes.as_str(),
            merged,
            "case {case}, seed {seed}: the devices differ"
        );
        let keep = |theirs: &[char]| -> String {
            merged.chars().filter(|ch| !theirs.contains(ch)).collect()
        };
        assert_eq!(keep(COORDINATOR_CHARS), m, "case {case}, seed {seed}");
        assert_eq!(keep(MENTOR_CHARS), c, "case {case}, seed {seed}");
    }
    Ok(())
}
