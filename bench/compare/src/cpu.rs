//! Server CPU time from `/proc`: user plus system time of a server's whole process
//! tree (NSD serves from forked children, Knot and ferrodns from threads; a
//! process's `stat` already sums its threads).

use std::fs;

use crate::BenchError;

/// The numeric fields of `/proc/<pid>/stat` from field 3 (state) on: field `n`
/// of proc(5) is at index `n - 3`.
fn fields(pid: &str) -> Option<Vec<u64>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = text.get(text.rfind(')')? + 1..)?;
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// `(ppid, utime + stime in clock ticks)` of process `pid`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let f = fields(&pid.to_string())?;
    let ppid = u32::try_from(*f.get(1)?).ok()?;
    Some((ppid, f.get(11)? + f.get(12)?))
}

/// CPU seconds of this process's children that have exited and been waited for
/// (cutime + cstime): the clients, once their run is over.
pub(crate) fn children_seconds(ticks_per_second: f64) -> f64 {
    fields("self").map_or(0.0, |f| {
        (f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0)) as f64
            / ticks_per_second
    })
}

/// `pid` and all its descendants alive now.
pub(crate) fn tree(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, stat(p)?.0)))
        .collect();
    let mut found = vec![pid];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        at += 1;
    }
    found
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` times.
pub(crate) fn clock_ticks() -> Result<f64, BenchError> {
    let out = crate::servers::command_output("getconf", &["CLK_TCK"])?;
    out.trim()
        .parse()
        .map_err(|_| BenchError::Parse(format!("getconf CLK_TCK printed {out:?}")))
}

/// CPU seconds spent so far by the process tree of `pid`.
pub(crate) fn seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let ticks: u64 = tree(pid).into_iter().filter_map(|p| Some(stat(p)?.1)).sum();
    ticks as f64 / ticks_per_second
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_stat_and_a_tree() {
        let me = std::process::id();
        assert!(stat(me).is_some());
        assert_eq!(tree(me)[0], me);
    }
}
