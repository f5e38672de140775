//! Records and backend health from etcd v3.
//!
//! (Module documentation is completed with the sync loop.)

pub mod assemble;
pub mod containerdns;
pub mod decode;
pub mod health;
mod key;
pub mod publish;
pub mod records;
pub mod skydns;
