//! The query log: dnstap messages of the sampled queries and answers, written
//! as Frame Streams to a file or to a reader's unix socket (`dnstap -u`,
//! `fstrm_capture`).
//!
//! The poll loops, the TCP listener and the forwarder queue log entries on
//! their own bounded queues (`ferrodns_dataplane::observe`); one writer thread
//! here drains them all, encodes each entry (`message`) and writes it behind
//! its frame (`frames`). The loops never wait for it: when it falls behind
//! (a slow disk, a slow reader) their queues fill and entries are dropped and
//! counted. Over a socket, a reader that is not there yet or goes away is
//! tried again every second; entries drained meanwhile are dropped and
//! counted (`reason="output"`).
//!
//! `/metrics`: `ferrodns_dnstap_messages_total`,
//! `ferrodns_dnstap_dropped_total{reason}` (`queue_full`, `too_long`,
//! `output`) and `ferrodns_dnstap_output_up`.

mod frames;
mod message;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrodns_dataplane::observe::ObserverHub;
use tracing::{info, warn};

use self::frames::Control;
use self::message::Encoder;
use crate::config::{DnstapOutput, DnstapSettings};
use crate::telemetry::{ExtraFigures, label};

/// How long the writer sleeps when every queue is empty.
const IDLE: Duration = Duration::from_millis(10);
/// How long a reader that is not there is waited for before trying again.
const RECONNECT: Duration = Duration::from_secs(1);
/// How long a reader may take to answer the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the query log could not start.
#[derive(Debug, thiserror::Error)]
pub enum QueryLogError {
    #[error("cannot open the dnstap file {path}: {source}")]
    File { path: PathBuf, source: io::Error },
    #[error("cannot start the dnstap writer: {0}")]
    Thread(io::Error),
}

/// What the writer counts.
#[derive(Debug, Default)]
struct Figures {
    written: AtomicU64,
    unwritten: AtomicU64,
    up: AtomicBool,
}

/// The running writer.
#[derive(Debug)]
pub struct QueryLog {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    figures: Arc<Figures>,
    hub: Arc<ObserverHub>,
}

impl QueryLog {
    /// Opens the file (a socket is connected to by the writer, and again when
    /// its reader goes away) and starts the writer on `hub`'s queues.
    pub fn start(
        settings: &DnstapSettings,
        hub: Arc<ObserverHub>,
    ) -> Result<QueryLog, QueryLogError> {
        let output = match &settings.output {
            DnstapOutput::File(path) => {
                let file = File::create(path).map_err(|source| QueryLogError::File {
                    path: path.clone(),
                    source,
                })?;
                let mut out = BufWriter::new(file);
                frames::write_control(&mut out, Control::Start).map_err(|source| {
                    QueryLogError::File {
                        path: path.clone(),
                        source,
                    }
                })?;
                Output::File(out)
            }
            DnstapOutput::Socket(path) => Output::Socket {
                path: path.clone(),
                stream: None,
                retry_at: Instant::now(),
            },
        };
        let identity = settings
            .identity
            .clone()
            .unwrap_or_else(crate::health::host_name);
        let version = format!("ferrodns {}", env!("CARGO_PKG_VERSION"));
        let stop = Arc::new(AtomicBool::new(false));
        let figures = Arc::new(Figures::default());
        let mut writer = Writer {
            output,
            encoder: Encoder::new(&identity, &version),
            hub: Arc::clone(&hub),
            figures: Arc::clone(&figures),
        };
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ferrodns-dnstap".into())
            .spawn(move || writer.run(&thread_stop))
            .map_err(QueryLogError::Thread)?;
        Ok(QueryLog {
            thread: Some(thread),
            stop,
            figures,
            hub,
        })
    }

    /// The log's families for `/metrics`.
    pub(crate) fn figures(&self) -> ExtraFigures {
        let (figures, hub) = (Arc::clone(&self.figures), Arc::clone(&self.hub));
        Arc::new(move |out| {
            out.plain_counter(
                "ferrodns_dnstap_messages_total",
                "dnstap messages written to the query log.",
                figures.written.load(Ordering::Relaxed),
            )?;
            let drops = hub.log_drops();
            out.counter(
                "ferrodns_dnstap_dropped_total",
                "Query log entries dropped: a queue was full (the writer is behind), the message was too long, \
                 or the output was not there (no reader, a write failed).",
                [
                    (label("reason", "queue_full"), drops.queue_full),
                    (label("reason", "too_long"), drops.too_long),
                    (
                        label("reason", "output"),
                        figures.unwritten.load(Ordering::Relaxed),
                    ),
                ],
            )?;
            out.plain_gauge(
                "ferrodns_dnstap_output_up",
                "1 while the query log's file or reader takes what is written.",
                u64::from(figures.up.load(Ordering::Relaxed)),
            )
        })
    }

    /// Writes what is queued, ends the stream and waits for the writer.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the dnstap writer panicked");
        }
    }
}

/// Where frames go.
enum Output {
    File(BufWriter<File>),
    Socket {
        path: PathBuf,
        stream: Option<BufWriter<UnixStream>>,
        retry_at: Instant,
    },
}

/// The writer thread's state.
struct Writer {
    output: Output,
    encoder: Encoder,
    hub: Arc<ObserverHub>,
    figures: Arc<Figures>,
}

impl Writer {
    fn run(&mut self, stop: &AtomicBool) {
        self.figures
            .up
            .store(matches!(self.output, Output::File(_)), Ordering::Relaxed);
        loop {
            let stopping = stop.load(Ordering::Acquire);
            self.connect();
            let (output, encoder, figures) = (&mut self.output, &mut self.encoder, &self.figures);
            let drained = self.hub.drain_log(|entry| {
                let written = output
                    .writer()
                    .map(|out| frames::write_data(out, encoder.encode(entry)));
                match written {
                    Some(Ok(())) => figures.written.fetch_add(1, Ordering::Relaxed),
                    Some(Err(e)) => {
                        output.broken(&e, figures);
                        figures.unwritten.fetch_add(1, Ordering::Relaxed)
                    }
                    None => figures.unwritten.fetch_add(1, Ordering::Relaxed),
                };
            });
            if drained > 0 {
                continue;
            }
            if let Some(out) = self.output.writer()
                && let Err(e) = out.flush()
            {
                self.output.broken(&e, &self.figures);
            }
            if stopping {
                break;
            }
            std::thread::sleep(IDLE);
        }
        self.output.finish();
    }

    /// Connects to the socket's reader when it is time to try.
    fn connect(&mut self) {
        let Output::Socket {
            path,
            stream,
            retry_at,
        } = &mut self.output
        else {
            return;
        };
        if stream.is_some() || Instant::now() < *retry_at {
            return;
        }
        match handshake(path) {
            Ok(connected) => {
                info!(socket = %path.display(), "dnstap reader connected");
                *stream = Some(BufWriter::new(connected));
                self.figures.up.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                if *retry_at != Instant::now() {
                    warn!(socket = %path.display(), "no dnstap reader: {e}; trying again every second");
                }
                *retry_at = Instant::now() + RECONNECT;
            }
        }
    }
}

impl Output {
    /// Where to write now; none while a socket has no reader.
    fn writer(&mut self) -> Option<&mut dyn Write> {
        match self {
            Output::File(file) => Some(file),
            Output::Socket { stream, .. } => stream.as_mut().map(|s| s as &mut dyn Write),
        }
    }

    /// A write failed: a socket's reader is dropped (and tried again later).
    fn broken(&mut self, error: &io::Error, figures: &Figures) {
        match self {
            Output::File(_) => warn!("cannot write the dnstap file: {error}"),
            Output::Socket {
                path,
                stream,
                retry_at,
            } => {
                if stream.take().is_some() {
                    warn!(socket = %path.display(), "the dnstap reader went away: {error}");
                }
                *retry_at = Instant::now() + RECONNECT;
            }
        }
        figures.up.store(false, Ordering::Relaxed);
    }

    /// Ends the stream: `STOP`, and over a socket the reader's `FINISH`.
    fn finish(&mut self) {
        let ended = match self {
            Output::File(file) => frames::write_control(file, Control::Stop),
            Output::Socket { stream, .. } => match stream.take() {
                Some(mut stream) => frames::write_control(&mut stream, Control::Stop)
                    .and_then(|()| stream.into_inner().map_err(|e| e.into_error()))
                    .and_then(|mut socket| frames::read_control(&mut socket))
                    .and_then(|answer| {
                        if answer == Control::Finish as u32 {
                            Ok(())
                        } else {
                            Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("the reader answered STOP with control frame {answer}"),
                            ))
                        }
                    }),
                None => Ok(()),
            },
        };
        if let Err(e) = ended {
            warn!("cannot end the dnstap stream cleanly: {e}");
        }
    }
}

/// Connects to a reader on `path`: `READY`, its `ACCEPT`, then `START`.
fn handshake(path: &Path) -> io::Result<UnixStream> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    frames::write_control(&mut stream, Control::Ready)?;
    let answer = frames::read_control(&mut stream)?;
    if answer != Control::Accept as u32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the reader answered control frame {answer}, not ACCEPT"),
        ));
    }
    frames::write_control(&mut stream, Control::Start)?;
    Ok(stream)
}
