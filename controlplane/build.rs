//! Sets `FERRODNS_COMMIT`, the git commit `ferrodns_build_info` names: the
//! environment's `FERRODNS_COMMIT` when set (a package build outside a
//! checkout), else `git rev-parse --short=12 HEAD`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=FERRODNS_COMMIT");
    let commit = std::env::var("FERRODNS_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuilt when HEAD moves: HEAD itself (a branch switch) and the ref it
    // names (a commit), loose or packed. Only files that exist are watched:
    // cargo reruns a build script on every build while a watched file is
    // missing (a fresh clone has its refs packed, a worktree has no
    // packed-refs), and that would recompile the crate every time.
    println!("cargo:rerun-if-changed=build.rs");
    let reference = git(&["symbolic-ref", "-q", "HEAD"]);
    for file in ["HEAD", "packed-refs"]
        .into_iter()
        .chain(reference.as_deref())
    {
        if let Some(path) = git(&["rev-parse", "--git-path", file])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=FERRODNS_COMMIT={commit}");
}

/// What `git args` prints, trimmed; `None` when git fails or is missing.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}
