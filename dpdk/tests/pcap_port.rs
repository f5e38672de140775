//! The safe layer end to end on a real DPDK port: the pcap driver reads frames
//! from a capture file and writes what we transmit to another. A worker lcore
//! receives every frame, swaps its Ethernet addresses in place and sends it back;
//! the output capture must hold exactly those frames.
//!
//! One test per file: DPDK can be initialised once per process.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrodns_dataplane::testkit::{read_pcap, write_pcap};
use ferrodns_dpdk::{Eal, Mbuf, Mempool, MempoolConfig, Port, PortConfig};

fn frame(index: u8, len: usize) -> Vec<u8> {
    let mut frame = vec![index; len];
    frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, index]);
    frame[12..14].copy_from_slice(&[0x88, 0xb5]);
    frame
}

#[test]
fn a_worker_lcore_receives_rewrites_in_place_and_transmits_through_a_pcap_port() {
    let dir = tempfile::tempdir().unwrap();
    let rx = dir.path().join("in.pcap");
    let tx = dir.path().join("out.pcap");
    let frames: Vec<Vec<u8>> = (0..100u8)
        .map(|i| frame(i, 60 + usize::from(i) * 9))
        .collect();
    write_pcap(&rx, &frames).unwrap();

    let vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        rx.display(),
        tx.display()
    );
    let eal = Eal::init(&["-l", "0-1", "--no-pci", "--in-memory", "--vdev", &vdev]).unwrap();
    assert!(matches!(
        Eal::init(&["--no-huge"]),
        Err(ferrodns_dpdk::DpdkError::AlreadyInitialised)
    ));
    assert_eq!(Port::names(&eal), ["net_pcap0"]);
    let workers = eal.worker_lcores();
    assert_eq!(workers.len(), 1);

    let pool = Mempool::create(
        &eal,
        &MempoolConfig {
            name: "test_pool".into(),
            mbufs: 1023,
            per_lcore_cache: 32,
            data_room: 2048 + 128,
            socket: -1,
        },
    )
    .unwrap();
    let free_at_start = pool.available();
    let config = PortConfig {
        queues: 1,
        rx_descriptors: 256,
        tx_descriptors: 256,
        mempool: pool,
        promiscuous: false,
    };
    let missing = Port::start(&eal, "net_pcap9", &config).unwrap_err();
    assert!(missing.to_string().contains("net_pcap0"), "{missing}");
    let too_many = Port::start(
        &eal,
        "net_pcap0",
        &PortConfig {
            queues: 200,
            ..config.clone()
        },
    );
    assert!(
        too_many
            .unwrap_err()
            .to_string()
            .contains("200 queue pairs")
    );

    let (port, mut queues) = Port::start(&eal, "net_pcap0", &config).unwrap();
    assert_eq!(port.driver(), "net_pcap");
    assert_eq!(queues.len(), 1);
    let mut queue = queues.pop().unwrap();

    let expected = frames.len();
    let (done_tx, done_rx) = mpsc::channel();
    let launched = eal
        .launch(workers[0], move || {
            let mut burst: Vec<Mbuf> = Vec::with_capacity(32);
            let mut seen = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while seen < expected && Instant::now() < deadline {
                if queue.rx_burst(&mut burst) == 0 {
                    continue;
                }
                for mbuf in &mut burst {
                    let len = mbuf.len();
                    let room = mbuf.room_mut().expect("a fresh single-segment mbuf");
                    assert!(room.len() >= len);
                    let (dst, src) = room.split_at_mut(6);
                    dst.swap_with_slice(&mut src[..6]);
                    // Grow by two bytes, then shrink back: `set_len` within the room.
                    assert!(mbuf.set_len(len + 2));
                    assert!(mbuf.set_len(len));
                    assert!(!mbuf.set_len(1 << 20));
                }
                seen += burst.len();
                while !burst.is_empty() {
                    queue.tx_burst(&mut burst);
                }
            }
            done_tx.send(seen).unwrap();
        })
        .unwrap();
    assert!(eal.wait(launched).unwrap(), "the lcore's work panicked");
    assert_eq!(done_rx.recv().unwrap(), expected);

    let stats = port.stats();
    assert_eq!((stats.rx_packets, stats.tx_packets), (100, 100));
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!((stats.rx_bytes, stats.tx_bytes), (bytes, bytes));
    assert!(port.link().up);
    // Closing the port (last handle) flushes the output capture.
    drop(port);
    // Every buffer went back to the pool (some may sit in the lcore caches, which
    // `available` counts).
    assert_eq!(pool.available(), free_at_start);

    let written = read_pcap(&tx).unwrap();
    assert_eq!(written.len(), frames.len());
    for (sent, original) in written.iter().zip(&frames) {
        assert_eq!(sent[..6], original[6..12]);
        assert_eq!(sent[6..12], original[..6]);
        assert_eq!(sent[12..], original[12..]);
    }
}
