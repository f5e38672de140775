//! What a traffic generator's lcore uses, on a real DPDK port with no wire
//! (`net_null`, which takes every frame it is given): buffers taken from the
//! pool in bulk, all or none, filled and sent in a burst, and the TSC as a
//! clock.
//!
//! One test per file: DPDK can be initialised once per process. It runs
//! without hugepages (`--no-huge`), so it needs neither root nor a reservation.

use std::time::Duration;

use ferrodns_dpdk::{Eal, MAX_BURST, Mbuf, Mempool, MempoolConfig, Port, PortConfig, TscClock};

#[test]
fn bulk_buffers_are_all_or_none_and_a_burst_of_them_is_sent() {
    let eal = Eal::init(&[
        "-l",
        "0",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        "--vdev",
        "net_null0,no-rx=1",
    ])
    .unwrap();
    let pool = Mempool::create(
        &eal,
        &MempoolConfig {
            name: "generator_pool".into(),
            mbufs: 1023,
            per_lcore_cache: 0,
            data_room: 2048 + 128,
            socket: -1,
        },
    )
    .unwrap();
    let (port, mut queues) = Port::start(
        &eal,
        "net_null0",
        &PortConfig {
            queues: 1,
            rx_descriptors: 256,
            tx_descriptors: 256,
            mempool: pool,
            promiscuous: false,
        },
    )
    .unwrap();
    let mut queue = queues.pop().unwrap();

    let mut burst: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
    assert!(
        !Mbuf::alloc_bulk(&pool, &mut burst, MAX_BURST + 1),
        "more than a burst"
    );
    assert!(burst.is_empty());
    assert!(Mbuf::alloc_bulk(&pool, &mut burst, 40));
    assert_eq!(burst.len(), 40);
    assert!(
        !Mbuf::alloc_bulk(&pool, &mut burst, 30),
        "no room left in the vector for 30"
    );
    assert_eq!(burst.len(), 40, "all or none");
    for (i, mbuf) in burst.iter_mut().enumerate() {
        let room = mbuf.room_mut().unwrap();
        room[..60].fill(i as u8);
        assert!(mbuf.set_len(60));
    }
    assert_eq!(pool.available(), 1023 - 40);
    let mut sent = 0;
    while !burst.is_empty() {
        sent += queue.tx_burst(&mut burst);
    }
    assert_eq!(sent, 40);
    assert_eq!(port.stats().tx_packets, 40);
    assert_eq!(pool.available(), 1023, "the driver gave every buffer back");

    // A pool too small for the request gives nothing.
    let mut held: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
    let mut more: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
    while Mbuf::alloc_bulk(&pool, &mut held, MAX_BURST) {
        more.append(&mut held);
    }
    let left = pool.available() as usize;
    assert!(left < MAX_BURST);
    assert!(held.is_empty(), "a short pool gives none");
    drop(more);

    let clock = TscClock::start(&eal);
    assert!(clock.hz() > 1_000_000, "a TSC of {} Hz", clock.hz());
    let before = clock.now();
    std::thread::sleep(Duration::from_millis(20));
    let elapsed = clock.now() - before;
    assert!(
        (15_000_000..2_000_000_000).contains(&elapsed),
        "20 ms measured as {elapsed} ns"
    );
}
