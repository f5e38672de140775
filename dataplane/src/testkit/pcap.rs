//! Capture files in the classic pcap format, which DPDK's pcap driver replays
//! and writes: the tests hand the DPDK backend their frames this way and read
//! back what it sent.
//!
//! A file is a 24-byte header (magic, version 2.4, snap length, link type 1 for
//! Ethernet) and then one 16-byte record header (timestamp, captured and
//! original length) before each frame, all little-endian as written here.

use std::fs;
use std::io;
use std::path::Path;

/// The magic of a file with microsecond timestamps, the one written here.
const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
/// The magic of a file with nanosecond timestamps.
const MAGIC_NANOSECONDS: u32 = 0xa1b2_3c4d;
const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
const LINKTYPE_ETHERNET: u32 = 1;

/// `frames` as a capture file, every timestamp 0.
pub fn pcap_file(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut file = [
        &MAGIC_MICROSECONDS.to_le_bytes()[..],
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
        &[0; 8],
        &65535u32.to_le_bytes(),
        &LINKTYPE_ETHERNET.to_le_bytes(),
    ]
    .concat();
    for frame in frames {
        let len = (frame.len() as u32).to_le_bytes();
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&len);
        file.extend_from_slice(&len);
        file.extend_from_slice(frame);
    }
    file
}

/// The frames of a capture file. A record cut short at the end is left out: its
/// writer may be in the middle of it.
pub fn pcap_frames(file: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let magic = file
        .first_chunk::<4>()
        .map(|bytes| u32::from_le_bytes(*bytes));
    if !matches!(magic, Some(MAGIC_MICROSECONDS | MAGIC_NANOSECONDS)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a little-endian pcap file: magic {magic:x?}"),
        ));
    }
    let mut rest = file.get(FILE_HEADER_LEN..).unwrap_or_default();
    let mut frames = Vec::new();
    while let Some((record, after)) = rest.split_first_chunk::<RECORD_HEADER_LEN>() {
        let [_, _, _, _, _, _, _, _, l0, l1, l2, l3, ..] = *record;
        let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        let Some(frame) = after.get(..len) else {
            break;
        };
        frames.push(frame.to_vec());
        rest = after.get(len..).unwrap_or_default();
    }
    Ok(frames)
}

/// Writes `frames` to `path` as a capture file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    fs::write(path, pcap_file(frames))
}

/// The frames of the capture file at `path`.
pub fn read_pcap(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    pcap_frames(&fs::read(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_written_read_back_and_a_cut_record_is_left_out() {
        let frames = vec![vec![1, 2, 3], Vec::new(), vec![9; 60]];
        let file = pcap_file(&frames);
        assert_eq!(file.len(), 24 + 3 * 16 + 63);
        assert_eq!(pcap_frames(&file).unwrap(), frames);
        assert_eq!(pcap_frames(&file[..file.len() - 1]).unwrap(), frames[..2]);
        assert_eq!(pcap_frames(&file[..24]).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn other_files_are_refused() {
        assert!(pcap_frames(b"").is_err());
        assert!(pcap_frames(&[0xd4, 0xc3, 0xb2, 0xa0, 0, 0]).is_err());
    }
}
