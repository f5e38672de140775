//! A run over kernel sockets: `-T` threads, each with its share of the `-c`
//! sockets (UDP) or connections (TCP), running the worker loop.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use crate::RunError;
use crate::run::{Finished, RunSpec, share};
use crate::sockets::{SocketOptions, Sockets};
use crate::tcp::TcpChannel;
use crate::udp::UdpChannel;
use crate::worker::{self, Progress};

/// Which address family to pick from the server's addresses (`-f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Family {
    Any,
    Inet,
    Inet6,
}

/// The kernel-socket side of the flags.
#[derive(Debug, Clone)]
pub(crate) struct KernelConfig {
    pub(crate) server: SocketAddr,
    pub(crate) tcp: bool,
    pub(crate) sockets: usize,
    pub(crate) threads: usize,
    pub(crate) options: SocketOptions,
}

/// The first address of `server` (a name or an address) in `family`.
pub(crate) fn resolve(server: &str, port: u16, family: Family) -> Result<SocketAddr, RunError> {
    let error = |reason: String| RunError::Resolve {
        server: server.to_owned(),
        port,
        reason,
    };
    (server, port)
        .to_socket_addrs()
        .map_err(|e| error(e.to_string()))?
        .find(|addr| match family {
            Family::Any => true,
            Family::Inet => addr.is_ipv4(),
            Family::Inet6 => addr.is_ipv6(),
        })
        .ok_or_else(|| error(format!("no address of family {family:?}")))
}

enum Channels {
    Udp(Vec<UdpChannel>),
    Tcp(Vec<TcpChannel>),
}

/// Opens worker `worker`'s `count` channels, numbered from `first`.
fn open_channels(config: &KernelConfig, first: usize, count: usize) -> Result<Channels, RunError> {
    let server = config.server;
    let transport = if config.tcp { "TCP" } else { "UDP" };
    let error = |source| RunError::Connect {
        transport,
        server,
        source,
    };
    let options = &config.options;
    Ok(if config.tcp {
        Channels::Tcp(
            (first..first + count)
                .map(|i| TcpChannel::connect(server, options, i).map_err(error))
                .collect::<Result<_, _>>()?,
        )
    } else {
        Channels::Udp(
            (first..first + count)
                .map(|i| UdpChannel::connect(server, options, i).map_err(error))
                .collect::<Result<_, _>>()?,
        )
    })
}

/// Runs `spec` over kernel sockets as `config` says.
pub(crate) fn run(config: &KernelConfig, spec: &RunSpec) -> Result<Finished, RunError> {
    let threads = config.threads.min(config.sockets);
    let mut channels = Vec::with_capacity(threads);
    let mut first = 0;
    for worker in 0..threads {
        let count = share(config.sockets, threads, worker);
        channels.push(open_channels(config, first, count)?);
        first += count;
    }
    spec.announce(&config.server.to_string());
    let (progress_tx, progress_rx) = mpsc::channel::<Progress>();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(threads);
    for (worker, channels) in channels.into_iter().enumerate() {
        let plan = spec.plan(worker, threads);
        let progress = progress_tx.clone();
        let queries = Arc::clone(&spec.queries);
        let read = spec.track;
        handles.push(thread::spawn(move || match channels {
            Channels::Udp(c) => {
                let mut sockets = Sockets::new(c, queries, read);
                worker::run(&plan, &mut sockets, worker, start, &progress)
            }
            Channels::Tcp(c) => {
                let mut sockets = Sockets::new(c, queries, read);
                worker::run(&plan, &mut sockets, worker, start, &progress)
            }
        }));
    }
    drop(progress_tx);
    spec.print_progress(&progress_rx, threads, start);

    let mut outcomes = Vec::with_capacity(threads);
    for (worker, handle) in handles.into_iter().enumerate() {
        outcomes.push(
            handle
                .join()
                .map_err(|_| RunError::WorkerPanicked(worker))?
                .map_err(|source| RunError::Worker { worker, source })?,
        );
    }
    Ok(spec.finish(outcomes, start))
}
