//! A client of a running server's REST API, driven with the real `curl`.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, free_port};

/// The token the tests' servers are started with.
pub(crate) const TOKEN: &str = "s3cret-token";

/// A client of one server's API.
pub(crate) struct Api {
    pub(crate) base: String,
    /// Extra `curl` arguments (`--cacert` for HTTPS).
    pub(crate) curl: Vec<String>,
}

/// What `curl` got: status and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Reply {
    /// What `curl` printing nothing amounts to.
    fn none() -> Reply {
        Reply {
            status: 0,
            body: String::new(),
        }
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

impl Api {
    pub(crate) fn new(port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            curl: Vec::new(),
        }
    }

    /// `method path` with `body`, carrying `token` as a bearer token if given.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> Reply {
        self.send_all(&[(method, path, body)], token)
            .pop()
            .unwrap_or_else(Reply::none)
    }

    /// Sends `requests` (method, path, body) one after the other from one `curl`
    /// on one connection, with no pause between an answer and the next request.
    pub(crate) fn send_all(
        &self,
        requests: &[(&str, &str, Option<&str>)],
        token: Option<&str>,
    ) -> Vec<Reply> {
        self.curl(requests, token, 10)
    }

    /// `POST path` with the body read from `file` (bodies too large for one
    /// command-line argument), without a token header.
    pub(crate) fn post_file(&self, path: &str, file: &Path) -> Reply {
        let body = format!("@{}", file.display());
        self.curl(&[("POST", path, Some(&body))], None, 30)
            .pop()
            .unwrap_or_else(Reply::none)
    }

    /// Runs `curl` for `requests`, each allowed `seconds`; a body starting
    /// with `@` names a file.
    fn curl(
        &self,
        requests: &[(&str, &str, Option<&str>)],
        token: Option<&str>,
        seconds: u32,
    ) -> Vec<Reply> {
        const END: &str = "\n--end of reply--\n";
        let mut command = Command::new("curl");
        for (i, (method, path, body)) in requests.iter().enumerate() {
            if i > 0 {
                command.arg("--next");
            }
            command
                .args(["-sS", "--max-time", &seconds.to_string(), "-X", method])
                .args(&self.curl)
                .args(["-w", &format!("\n%{{http_code}}{END}")]);
            if let Some(token) = token {
                command.args(["-H", &format!("Authorization: Bearer {token}")]);
            }
            if let Some(body) = body {
                command.args([
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    body,
                ]);
            }
            command.arg(format!("{}{path}", self.base));
        }
        let output = command.output().expect("run curl (tools/test installs it)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.split_terminator(END)
            .map(|reply| {
                let (body, status) = reply.rsplit_once('\n').unwrap_or(("", reply));
                Reply {
                    status: status.trim().parse().unwrap_or(0),
                    body: body.to_owned(),
                }
            })
            .collect()
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, Some(TOKEN))
    }

    pub(crate) fn post(&self, path: &str, body: &str) -> Reply {
        self.send("POST", path, Some(body), Some(TOKEN))
    }

    pub(crate) fn put(&self, path: &str, body: &str) -> Reply {
        self.send("PUT", path, Some(body), Some(TOKEN))
    }

    /// Polls `/healthz` until the API answers.
    pub(crate) fn wait_up(&self, server: &Server) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.send("GET", "/healthz", None, None).status != 200 {
            assert!(
                Instant::now() < deadline,
                "the API did not come up: {}",
                server.log_text()
            );
            sleep(Duration::from_millis(50));
        }
    }
}

/// The arguments of `ferrodns serve` with one worker, [`ZONE`](super::ZONE)
/// (written into `dir`) at `example.test.`, the embedded store in `state`
/// holding `svc.example.`, and the API on 127.0.0.1 `api_port`.
pub(crate) fn store_and_api_args(dir: &Path, state: &Path, api_port: u16) -> Vec<String> {
    let zone = dir.join("example.test.zone");
    std::fs::write(&zone, super::ZONE).expect("zone");
    [
        "serve",
        "--workers",
        "1",
        "--zone",
        &format!("example.test.={}", zone.display()),
        "--domain",
        "svc.example.",
        "--store",
        &state.join("records.redb").display().to_string(),
        "--api",
        &format!("127.0.0.1:{api_port}"),
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// `ferrodns serve` fed by the etcd `endpoints`, serving `example.com` from
/// them, with the API on a free port and [`TOKEN`], `extra` appended; waits
/// until it answers `probe` and its API is up.
pub(crate) fn serve_etcd(endpoints: &[String], extra: &[&str], probe: &str) -> (Server, Api) {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let port = free_port();
    let mut args: Vec<String> = vec!["serve".into(), "--workers".into(), "1".into()];
    for endpoint in endpoints {
        args.extend(["--etcd".into(), endpoint.clone()]);
    }
    args.extend([
        "--domain".into(),
        "example.com".into(),
        "--api".into(),
        format!("127.0.0.1:{port}"),
        "--api-token-file".into(),
        token.display().to_string(),
    ]);
    args.extend(extra.iter().map(ToString::to_string));
    let server = Server::spawn(dir, args, probe);
    let api = Api::new(port);
    api.wait_up(&server);
    (server, api)
}
