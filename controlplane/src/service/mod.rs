//! What a service manager needs from `ferrodns serve`, and what an operator
//! reading its logs needs: the process as systemd (or any supervisor) sees it.
//!
//! - `notify`: systemd's readiness protocol (`sd_notify`): `READY=1` once the
//!   first table is published and every listener, the REST API included, is
//!   bound; `RELOADING=1` and `READY=1` around a reload; `STOPPING=1` on the
//!   way out. With `Type=notify` that is what makes `systemctl start` return
//!   only when the server answers, and `systemctl reload` only when the reload
//!   is done.
//! - `pid_file`: `--pid-file PATH`, locked while the server runs (so a second
//!   server refuses to start on the same file, and a file a crashed server left
//!   behind is simply taken over), written once ready, removed at exit.
//! - `logging`: log lines on stderr as text (colours only on a terminal, no
//!   timestamps when stderr is the journal, which keeps its own) or as JSON.
//!
//! None of this is DNS: it is the lifecycle around [`crate::serve`].

mod logging;
mod notify;
mod pid_file;

pub use logging::init_logging;
pub use notify::Notifier;
pub use pid_file::{PidFile, PidFileError};
