//! Frame Streams, the framing dnstap readers expect: each payload behind its
//! 4-byte big-endian length, and control frames behind an escape (a zero
//! length) saying what the stream carries.
//!
//! ```text
//! data frame:    length (u32, > 0) | payload
//! control frame: 0 (u32) | length (u32) | type (u32) | fields: type (u32), length (u32), bytes
//! ```
//!
//! A file is `START` (with the content type), data frames, `STOP`. Over a
//! socket the writer and the reader shake hands: the writer says `READY` with
//! the content types it can send, the reader answers `ACCEPT` with one, then
//! the writer says `START`; at the end `STOP`, answered `FINISH`.

use std::io::{self, Read, Write};

/// The content type of dnstap payloads.
pub(crate) const DNSTAP_CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";

/// Control frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Control {
    Accept = 1,
    Start = 2,
    Stop = 3,
    Ready = 4,
    Finish = 5,
}

/// The control field naming a content type.
const FIELD_CONTENT_TYPE: u32 = 1;
/// Longest control frame read: a handful of content types.
const MAX_CONTROL: u32 = 512;

/// Writes one data frame.
pub(crate) fn write_data(out: &mut (impl Write + ?Sized), payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(payload)
}

/// Writes a control frame of `kind`, with the dnstap content type unless it
/// is `STOP` or `FINISH`.
pub(crate) fn write_control(out: &mut impl Write, kind: Control) -> io::Result<()> {
    let mut frame = Vec::with_capacity(48);
    frame.extend_from_slice(&(kind as u32).to_be_bytes());
    if !matches!(kind, Control::Stop | Control::Finish) {
        frame.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        frame.extend_from_slice(&(DNSTAP_CONTENT_TYPE.len() as u32).to_be_bytes());
        frame.extend_from_slice(DNSTAP_CONTENT_TYPE);
    }
    out.write_all(&0u32.to_be_bytes())?;
    out.write_all(&(frame.len() as u32).to_be_bytes())?;
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one control frame and returns its type.
pub(crate) fn read_control(input: &mut impl Read) -> io::Result<u32> {
    let mut word = [0u8; 4];
    input.read_exact(&mut word)?;
    if word != [0; 4] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected a control frame",
        ));
    }
    input.read_exact(&mut word)?;
    let len = u32::from_be_bytes(word);
    if !(4..=MAX_CONTROL).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("control frame of {len} bytes"),
        ));
    }
    let mut frame = vec![0u8; len as usize];
    input.read_exact(&mut frame)?;
    let kind: [u8; 4] = frame
        .get(..4)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty control frame"))?;
    Ok(u32::from_be_bytes(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_carry_the_content_type_and_read_back() {
        let mut out = Vec::new();
        assert!(write_control(&mut out, Control::Start).is_ok());
        assert_eq!(&out[..8], &[0, 0, 0, 0, 0, 0, 0, 34]);
        assert_eq!(&out[8..16], &[0, 0, 0, 2, 0, 0, 0, 1]);
        assert_eq!(&out[20..], DNSTAP_CONTENT_TYPE);
        assert_eq!(read_control(&mut out.as_slice()).ok(), Some(2));
        let mut stop = Vec::new();
        assert!(write_control(&mut stop, Control::Stop).is_ok());
        assert_eq!(stop, [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3]);
        let mut data = Vec::new();
        assert!(write_data(&mut data, b"abc").is_ok());
        assert_eq!(data, [0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
