//! Asking two servers the same questions with `dig` and reading back what a
//! differential test compares: rcode, AA and TC, and the answer and authority
//! sections as sets of records (the order inside a section aside: ferrodns
//! rotates RRsets). Included by the differential tests with
//! `#[path = "support/differential.rs"] mod differential;`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::process::Command;

/// What is compared of one answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: String,
    pub(crate) aa: bool,
    pub(crate) tc: bool,
    pub(crate) answer: BTreeSet<String>,
    pub(crate) authority: BTreeSet<String>,
}

/// Asks every question of the server on `port` in one `dig` batch run and parses
/// the answers, in question order; fails with what dig printed when it did not
/// give one answer per question.
pub(crate) fn ask(port: u16, questions: &[(String, &str)]) -> Vec<Answer> {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    let mut text = String::new();
    for (name, qtype) in questions {
        writeln!(text, "-t {qtype} -q {name}").unwrap();
    }
    fs::write(&batch, text).unwrap();
    // Options for every query go on the command line: dig cuts long batch lines.
    // +ignore shows TC instead of retrying over TCP; +nocookie leaves out the EDNS
    // cookie lines.
    let output = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string()])
        .args(["+norec", "+ignore", "+nocookie", "+tries=1", "+time=2"])
        .args(["+noall", "+comments", "+answer", "+authority", "-f"])
        .arg(&batch)
        .output()
        .expect("run dig (dnsutils; tools/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answers = parse(&stdout);
    let head: String = stdout.lines().take(5).collect::<Vec<_>>().join("\n");
    assert_eq!(
        answers.len(),
        questions.len(),
        "server on port {port} did not answer every question; dig exited {}, stderr: {}; \
         stdout begins: {head}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    answers
}

/// Splits `dig` output into answers at each `->>HEADER<<-` line.
pub(crate) fn parse(output: &str) -> Vec<Answer> {
    let mut answers: Vec<Answer> = Vec::new();
    let mut section = "";
    for line in output.lines() {
        if let Some(header) = line.strip_prefix(";; ->>HEADER<<- ") {
            let status = header
                .split(", ")
                .find_map(|field| field.strip_prefix("status: "))
                .unwrap()
                .to_string();
            answers.push(Answer {
                status,
                aa: false,
                tc: false,
                answer: BTreeSet::new(),
                authority: BTreeSet::new(),
            });
            section = "";
        } else if let Some(flags) = line.strip_prefix(";; flags: ") {
            let answer = answers.last_mut().unwrap();
            let flags = flags.split(';').next().unwrap();
            answer.aa = flags.split_whitespace().any(|f| f == "aa");
            answer.tc = flags.split_whitespace().any(|f| f == "tc");
        } else if line.starts_with(";; ANSWER SECTION:") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION:") {
            section = "authority";
        } else if line.starts_with(';') || line.trim().is_empty() {
            if line.starts_with(";;") {
                section = "";
            }
        } else if let Some(answer) = answers.last_mut() {
            let record = line.split_whitespace().collect::<Vec<_>>().join(" ");
            match section {
                "answer" => answer.answer.insert(record),
                "authority" => answer.authority.insert(record),
                _ => panic!("record outside a section: {line}"),
            };
        }
    }
    answers
}
