//! The hot path's error: small, `Copy`, no context beyond what went wrong.

/// Why bytes are not a well-formed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("packet ends inside a field")]
    Truncated,
    #[error("name longer than 255 octets")]
    NameTooLong,
    #[error("label type 0x40 or 0x80 is reserved")]
    BadLabelType,
    #[error("compression pointer inside the question")]
    CompressedQuestion,
    #[error("a query carries exactly one question")]
    QuestionCount,
    #[error("more than one OPT record")]
    MultipleOpt,
    #[error("OPT record owner is not the root")]
    OptOwner,
    #[error("OPT record outside the additional section")]
    MisplacedOpt,
    #[error("compression pointer that does not point backwards")]
    BadPointer,
    #[error("TSIG record that is not the last record of the message")]
    MisplacedTsig,
    #[error("TSIG record whose RDATA does not parse")]
    BadTsig,
}
