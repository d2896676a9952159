//! Tests of `net`.

use super::*;

fn gate(total: usize, per_ip: usize) -> Arc<Gate> {
    Gate::new(&Limits {
        max_connections: total,
        max_connections_per_address: per_ip,
        ..Limits::default()
    })
}

#[test]
fn caps_count_per_address_and_in_total_and_free_on_drop() {
    let g = gate(3, 2);
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let t1 = g.admit(a).unwrap();
    let t2 = g.admit(a).unwrap();
    assert_eq!(g.admit(a).unwrap_err(), Refusal::PerAddress);
    // Both of a's are busy: nothing to evict when the total is reached.
    t1.slot.set(BUSY);
    t2.slot.set(BUSY);
    let t3 = g.admit(b).unwrap();
    t3.slot.set(UPGRADED);
    assert_eq!(g.admit(b).unwrap_err(), Refusal::Full);
    drop(t1);
    assert_eq!(g.open(), 2);
    let _t4 = g.admit(a).unwrap();
}

#[test]
fn a_full_gate_closes_the_oldest_idle_connection_for_a_new_one() {
    let g = gate(2, 10);
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let old = g.admit(a).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let newer = g.admit(a).unwrap();
    let third = g.admit(a).unwrap();
    assert!(*old.slot.close.borrow(), "the oldest fresh one is closed");
    assert!(!*newer.slot.close.borrow());
    // Until it is gone, it does not count against the cap twice.
    assert_eq!(g.lock().closing, 1);
    drop(old);
    assert_eq!(g.lock().closing, 0);
    assert_eq!(g.open(), 2);
    drop((newer, third));
}

#[test]
fn ipv6_addresses_count_per_64() {
    let g = gate(10, 1);
    let _t = g.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
    assert_eq!(
        g.admit("2001:db8:1:2:ffff::9".parse().unwrap())
            .unwrap_err(),
        Refusal::PerAddress
    );
    assert!(g.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
}

#[test]
fn the_reaper_closes_fresh_connections_after_the_header_timeout() {
    let g = Gate::new(&Limits {
        header_timeout: Duration::from_millis(20),
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    });
    let t = g.admit("10.0.0.1".parse().unwrap()).unwrap();
    let busy = g.admit("10.0.0.1".parse().unwrap()).unwrap();
    busy.slot.set(BUSY);
    g.reap();
    assert!(!*t.slot.close.borrow());
    std::thread::sleep(Duration::from_millis(30));
    g.reap();
    assert!(*t.slot.close.borrow());
    assert!(!*busy.slot.close.borrow());
}
