//! The frame being handled, as every layer sees it.

use super::action::ChecksumMode;
use super::ethernet::L2;
use super::services::Services;

/// What every layer needs to know about the frame being handled.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request<'a> {
    /// Length of the received frame.
    pub(super) len: usize,
    pub(super) l2: L2,
    pub(super) services: &'a Services,
    pub(super) checksum: ChecksumMode,
}
