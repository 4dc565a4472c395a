//! Gunzipping whole inputs, salvaging what precedes any damage.

use std::io::Read;

use super::{Location, ReadProblem};

/// The first two bytes of every gzip member.
pub(super) const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompresses all gzip members in `compressed`. On damage, returns what was decompressed
/// before it and records a problem at the compressed offset where reading stopped.
pub(super) fn gunzip(compressed: &[u8], problems: &mut Vec<ReadProblem>) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint(compressed));
    let mut decoder = flate2::bufread::MultiGzDecoder::new(compressed);
    if let Err(error) = decoder.read_to_end(&mut out) {
        let consumed = compressed.len() - decoder.get_ref().len();
        let what = if error.kind() == std::io::ErrorKind::UnexpectedEof {
            "the gzip data ends early (truncated file?)".to_owned()
        } else {
            format!("the gzip data is corrupt ({error})")
        };
        problems.push(ReadProblem {
            location: Location::Byte(consumed as u64),
            message: format!(
                "{what} at compressed byte {consumed} of {}; the {} bytes decompressed before \
                 it are read and the rest is lost: fetch the object again",
                compressed.len(),
                out.len()
            ),
        });
    }
    out
}

/// The decompressed size from the last member's trailer (ISIZE, the size mod 2^32), when it
/// is plausible; a damaged or multi-member input only costs a few reallocations.
fn size_hint(compressed: &[u8]) -> usize {
    let fallback = compressed.len().saturating_mul(8);
    let Some(trailer) = compressed.last_chunk::<4>() else {
        return fallback;
    };
    let isize = u32::from_le_bytes(*trailer) as usize;
    // Deflate cannot expand more than 1032:1; CloudTrail JSON compresses about 10-30:1.
    if isize >= compressed.len() / 2 && isize <= compressed.len().saturating_mul(256) {
        isize
    } else {
        fallback
    }
}
