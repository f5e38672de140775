//! Finds the system DPDK with pkg-config, compiles the C shim (`shim/`) against it
//! and generates Rust declarations with bindgen for exactly what `src/sys.rs`
//! uses. DPDK 22.11 is the supported version (Debian 12's `libdpdk-dev`).

use std::env;
use std::path::PathBuf;

const DPDK_MIN_VERSION: &str = "22.11";

/// DPDK functions the safe layer calls (exported symbols, not `static inline`).
const FUNCTIONS: &[&str] = &[
    "rte_eal_init",
    "rte_strerror",
    "rte_lcore_count",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_lcore_to_socket_id",
    "rte_eal_remote_launch",
    "rte_eal_wait_lcore",
    "rte_get_tsc_hz",
    "rte_pktmbuf_pool_create",
    "rte_mempool_avail_count",
    "rte_pktmbuf_free_bulk",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_promiscuous_enable",
    "rte_eth_macaddr_get",
    "rte_eth_dev_default_mac_addr_set",
    "rte_eth_link_get_nowait",
    "rte_eth_stats_get",
    "ferrodns_.*",
];

/// Types those functions take, by value or by pointer.
const TYPES: &[&str] = &[
    "rte_mbuf",
    "rte_mempool",
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_eth_link",
    "rte_eth_stats",
    "rte_ether_addr",
];

/// Plain `#define` constants that bindgen can evaluate.
const CONSTANTS: &[&str] = &[
    "RTE_MAX_ETHPORTS",
    "RTE_MAX_LCORE",
    "RTE_ETH_NAME_MAX_LEN",
    "RTE_MBUF_DEFAULT_BUF_SIZE",
    "RTE_PKTMBUF_HEADROOM",
    "RTE_ETH_LINK_UP",
    "RTE_ETH_LINK_FULL_DUPLEX",
    "RTE_ETH_SPEED_NUM_UNKNOWN",
    "RTE_MBUF_F_INDIRECT",
    "RTE_MBUF_F_EXTERNAL",
];

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    let dpdk = match pkg_config::Config::new()
        .atleast_version(DPDK_MIN_VERSION)
        .probe("libdpdk")
    {
        Ok(library) => library,
        Err(e) => {
            eprintln!(
                "ferrodns-dpdk needs DPDK {DPDK_MIN_VERSION} or later, found with pkg-config \
                 `libdpdk` (Debian: apt-get install dpdk-dev libdpdk-dev pkg-config; \
                 tools/lib/deps.sh installs them): {e}"
            );
            std::process::exit(1);
        }
    };

    // DPDK's own compile flags besides the include paths (`-include rte_config.h`,
    // `-march=...`): the shim and bindgen must see the same struct layouts as the
    // library.
    let extra_cflags = dpdk_cflags();

    let mut shim = cc::Build::new();
    shim.file("shim/shim.c").warnings(true).opt_level(3);
    for path in &dpdk.include_paths {
        shim.include(path);
    }
    for flag in &extra_cflags {
        shim.flag(flag);
    }
    shim.compile("ferrodns_dpdk_shim");

    let mut builder = bindgen::Builder::default()
        .header("shim/shim.h")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .use_core()
        .layout_tests(true)
        .derive_default(true)
        .prepend_enum_name(false)
        .generate_comments(false);
    for path in &dpdk.include_paths {
        builder = builder.clang_arg(format!("-I{}", path.display()));
    }
    for flag in &extra_cflags {
        builder = builder.clang_arg(flag);
    }
    for function in FUNCTIONS {
        builder = builder.allowlist_function(function);
    }
    for ty in TYPES {
        builder = builder.allowlist_type(ty);
    }
    for constant in CONSTANTS {
        builder = builder.allowlist_var(constant);
    }
    let bindings = match builder.generate() {
        Ok(bindings) => bindings,
        Err(e) => {
            eprintln!("bindgen could not read the DPDK headers (is libclang-dev installed?): {e}");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default()).join("bindings.rs");
    if let Err(e) = bindings.write_to_file(&out) {
        eprintln!("cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}

/// The compile flags pkg-config gives for DPDK that are not include paths
/// (`-include rte_config.h`, `-march=...`, defines).
fn dpdk_cflags() -> Vec<String> {
    let output = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
        .args(["--cflags-only-other", "libdpdk"])
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut flags = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        if word == "-include" {
            if let Some(file) = words.next() {
                flags.push(format!("-include{file}"));
            }
        } else {
            flags.push(word.to_owned());
        }
    }
    flags
}
