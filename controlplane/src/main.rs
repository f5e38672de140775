//! The `ferrodns` binary.

fn main() {}
