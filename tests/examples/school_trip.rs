//! The school trip, played against a real in-process server, printing step by step what
//! each device holds. All people and pupils are made up.
//!
//! ```text
//! cargo run -p omkijken-tests --example school_trip
//! ```

use anyhow::Result;
use omkijken_core::defaults::DEFAULT_TEMPLATE;
use omkijken_core::store::AttentionReason;
use omkijken_tests::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;

fn show(devices: &[&Device]) -> Result<()> {
    for d in devices {
        if d.store.is_wiped() {
            println!("    {} ({}): wiped", d.label, d.user);
        } else {
            println!("    {}", d.summary()?);
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let devices_dir = tmp.path().join("devices");
    std::fs::create_dir_all(&devices_dir)?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    println!("server on {}", server.url());

    println!("1. the admin imports the roster and enrolls three devices");
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, &devices_dir, MENTOR, "mentor phone").await?;
    let teacher = Device::enroll(&server, &devices_dir, TEACHER, "teacher phone").await?;
    let coordinator =
        Device::enroll(&server, &devices_dir, COORDINATOR, "coordinator tablet").await?;
    let all = [&mentor, &teacher, &coordinator];
    for d in all {
        d.sync().await?;
    }
    show(&all)?;

    println!("   before the trip: the mentor shares a kindgesprek about {PUPIL_IN_CARE}");
    let conversation =
        mentor
            .store
            .start_conversation(PUPIL_IN_CARE, DEFAULT_TEMPLATE, "2026-11-16")?;
    mentor
        .store
        .edit_notes(conversation, 0, 0, "Notities van de mentor.")?;
    mentor.store.share_conversation(conversation)?;
    mentor.sync().await?;
    coordinator.sync().await?;
    println!("   conversation {conversation}");
    show(&all)?;

    println!("2. the teacher is on the trip, offline, and records two signals");
    let s1 = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "Feiten over het kamp.")?;
    let s2 = teacher.record_trip_signal(PUPIL, 1, "Nog meer feiten.")?;
    println!("   signal {s1} about {PUPIL_IN_CARE} (urgency 2)");
    println!("   signal {s2} about {PUPIL} (urgency 1)");
    show(&all)?;

    println!("3. meanwhile, offline, the mentor and the coordinator edit the same notes");
    let len = mentor
        .store
        .conversation(conversation)?
        .notes
        .as_str()
        .chars()
        .count();
    mentor
        .store
        .edit_notes(conversation, len, 0, " Aanvulling van de mentor.")?;
    coordinator
        .store
        .edit_notes(conversation, 0, 0, "[IB] Aanvulling. ")?;
    show(&all)?;

    println!("4. everybody reconnects, in random order, twice round");
    let mut order = all.to_vec();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2026));
    for round in 1..=2 {
        for d in &order {
            let r = d.sync().await?;
            println!(
                "   round {round}, {}: fetched {}, pushed {}, refused {}, purged {}",
                d.label,
                r.fetched,
                r.pushed,
                r.refused.len(),
                r.purged
            );
        }
    }

    println!("5. what each device holds");
    show(&all)?;
    let a = mentor.store.conversation(conversation)?.notes;
    let b = coordinator.store.conversation(conversation)?.notes;
    println!(
        "   conversation notes identical on mentor and coordinator: {}, {} characters",
        a.as_str() == b.as_str(),
        a.as_str().chars().count()
    );
    println!(
        "   the teacher may read the conversation: {}",
        teacher.store.conversation(conversation).is_ok()
    );
    for item in coordinator.store.attention_list()? {
        if let AttentionReason::OpenSignal {
            signal, urgency, ..
        } = item.reason
        {
            println!(
                "   coordinator's attention list: {} signal {signal} urgency {urgency}",
                item.pupil
            );
        }
    }

    println!("6. the server restarts on the same data; a new tablet for the coordinator");
    let server = server.restart().await?;
    let tablet2 =
        Device::enroll(&server, &devices_dir, COORDINATOR, "coordinator tablet 2").await?;
    let r = tablet2.sync().await?;
    println!("   new tablet fetched {} documents", r.fetched);
    println!(
        "   same documents as the old tablet: {}",
        tablet2.held()? == coordinator.held()?
    );

    println!("7. the mentor's phone is revoked and wipes itself on next contact");
    let admin = server.handle.admin();
    if let Some(device) = admin
        .devices()
        .await?
        .into_iter()
        .find(|d| d.user == MENTOR)
    {
        admin.revoke_device(&device.id).await?;
    }
    match mentor.sync().await {
        Ok(_) => println!("   unexpected: the sync succeeded"),
        Err(e) => println!("   sync answered: {e:#}"),
    }
    println!("   database file still there: {}", mentor.path.exists());
    show(&[&mentor, &teacher, &coordinator, &tablet2])?;

    server.handle.shutdown().await?;
    Ok(())
}
