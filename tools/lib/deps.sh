# shellcheck shell=bash
# Sourced by the scripts in tools/: makes sure what they need is on this machine.
#
#   ensure_deps                          # everything tools/demo and tools/test need
#   ensure_debian_packages PKG...        # just these Debian packages
#   ensure_rust_toolchain                # cargo on PATH, or a clear error
#
# Quiet and idempotent: when everything is present it prints nothing and costs one
# dpkg-query per package. When something is missing it prints one line naming what it
# installs, sends apt's output to a log file and prints that log only on failure.

# Debian packages the project's scripts and tests need today.
#   dnsutils       dig, used by tools/demo and the integration tests
#   knot-dnsutils  kdig, used by the integration tests
#   etcd-server    etcd, started by the etcd integration tests and benchmarks
#   etcd-client    etcdctl, which those tests write records with
#   protobuf-compiler libprotobuf-dev
#                  protoc and the well-known .proto files (google/protobuf/*.proto)
#                  that the etcd-client crate's build script compiles against
#   knot           knotd, an upstream the forwarder tests forward to
#   unbound        unbound, another upstream the forwarder tests forward to
#   dnsperf        load for the forwarder bench and the DPDK end-to-end test
#   nsd            NSD, a peer server the side-by-side benchmark (bench/compare) measures
#   dpdk-dev libdpdk-dev
#                  DPDK 22.11 (libraries, headers, pkg-config `libdpdk`, dpdk-testpmd)
#                  for the dpdk/ crate, its tests and the DPDK benchmark
#   clang libclang-dev
#                  bindgen generates the DPDK bindings through libclang; clang is
#                  the C compiler of the dpdk/ shim
#   pkg-config     finds DPDK's flags and libraries at build time
#   iproute2       network namespaces and veth pairs of the DPDK end-to-end test
#   iputils-ping   ping of the DPDK end-to-end test
#   ethtool        turns off checksum offload on the test veth (see dpdk_veth.rs)
#   curl           the HTTP client of the REST API tests (tests/api.rs)
#   openssl        makes the self-signed certificate of the API's HTTPS test
#   pdns-server pdns-backend-remote
#                  pdns_server with the remote backend, which the OpenSVC tests
#                  (tests/opensvc.rs) compare ferrodns with on the same agent socket
#   golang-github-dnstap-golang-dnstap-cli
#                  the `dnstap` tool, which reads ferrodns's query log back in the
#                  tests (tests/observability.rs), from a file and from its socket
#   dpkg-dev binutils
#                  dpkg-shlibdeps and strip, with which tools/package builds the
#                  Debian package that tests/package.rs installs
FERRODNS_DEBIAN_PACKAGES=(
    dnsutils knot-dnsutils knot unbound dnsperf nsd pdns-server pdns-backend-remote
    golang-github-dnstap-golang-dnstap-cli
    dpdk-dev libdpdk-dev clang libclang-dev pkg-config
    iproute2 iputils-ping ethtool curl openssl
    etcd-server etcd-client protobuf-compiler libprotobuf-dev dpkg-dev binutils
)

# Prints, one per line, those of the named Debian packages that are not installed.
_ferrodns_missing_packages() {
    local pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

# Installs whichever of the named Debian packages are not installed yet.
ensure_debian_packages() {
    local missing=()
    mapfile -t missing < <(_ferrodns_missing_packages "$@")
    if ((${#missing[@]} == 0)); then
        return 0
    fi

    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing Debian packages: ${missing[*]}; apt-get is not available, install them by hand" >&2
        return 1
    fi
    local sudo=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: missing Debian packages: ${missing[*]}; not root and sudo is not available" >&2
            return 1
        fi
        sudo=(sudo)
    fi

    local log
    log="$(mktemp -t ferrodns-apt.XXXXXX)"
    echo "==> installing Debian packages: ${missing[*]}"
    # env passes DEBIAN_FRONTEND through sudo, which resets the environment.
    # DPkg::Lock::Timeout waits for another apt run to finish instead of failing.
    if ! {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=300 update &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
    } </dev/null >"$log" 2>&1; then
        echo "error: installing ${missing[*]} failed; apt-get said:" >&2
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"

    local still_missing=()
    mapfile -t still_missing < <(_ferrodns_missing_packages "${missing[@]}")
    if ((${#still_missing[@]} != 0)); then
        echo "error: apt-get succeeded but these are still not installed: ${still_missing[*]}" >&2
        return 1
    fi
}

# Makes sure cargo is on PATH. Never downloads a toolchain.
ensure_rust_toolchain() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
        # rustup installed it but this shell has not sourced ~/.cargo/env.
        PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
        export PATH
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        cat >&2 <<'MSG'
error: cargo is not on PATH. ferrodns needs a Rust toolchain: install rustup
(https://rustup.rs), open a new shell (or `. "$HOME/.cargo/env"`), and run this again.
The toolchain version is pinned by rust-toolchain.toml at the repository root.
MSG
        return 1
    fi
}

# Debian's nsd and pdns-server packages start a system server on port 53 where
# systemd runs (containers with policy-rc.d do not). The benchmark and the tests
# start their own, each with its own config and port, so the system ones are
# stopped and disabled; once that is done this costs one query per service.
_ferrodns_quiet_system_servers() {
    [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 || return 0
    local service
    for service in nsd pdns; do
        if systemctl is-enabled --quiet "$service" 2>/dev/null || systemctl is-active --quiet "$service" 2>/dev/null; then
            local sudo=()
            ((EUID == 0)) || sudo=(sudo)
            "${sudo[@]}" systemctl disable --now --quiet "$service" >/dev/null 2>&1 ||
                echo "warning: could not stop the system $service service (it may hold port 53)" >&2
        fi
    done
}

# Everything tools/demo and tools/test need.
ensure_deps() {
    ensure_rust_toolchain
    ensure_debian_packages "${FERRODNS_DEBIAN_PACKAGES[@]}"
    _ferrodns_quiet_system_servers
}
