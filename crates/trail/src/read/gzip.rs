//! Gunzipping whole inputs, salvaging what precedes any damage.

use std::io::Read;

use super::{Location, ReadProblem};

/// The first two bytes of every gzip member.
pub(super) const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompresses all gzip members in `compressed`, up to `limit` bytes. On damage, returns
/// what was decompressed before it and records a problem at the compressed offset where
/// reading stopped; past the limit, returns the first `limit` bytes and records that.
pub(super) fn gunzip(compressed: &[u8], limit: u64, problems: &mut Vec<ReadProblem>) -> Vec<u8> {
    if let Some(whole) = gunzip_whole(compressed, limit) {
        return whole;
    }
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    // Under a limit, room for the most the data can inflate to (deflate stops at 1032:1), so
    // the buffer never grows: growing copies, and an allocator that keeps freed blocks a while
    // (mimalloc) would hold every smaller size too, three times the limit for one gzip bomb
    // whose trailer lies about its size. Pages never written cost no memory. Without a limit
    // (a local file) the trailer's size is the guess. One byte more, so that the read that
    // finds the end (or the byte past the limit) does not grow it either.
    let capacity = if limit_bytes == usize::MAX {
        size_hint(compressed)
    } else {
        compressed
            .len()
            .saturating_mul(MAX_DEFLATE_RATIO)
            .min(limit_bytes)
    };
    let mut out = Vec::with_capacity(capacity.saturating_add(1));
    let mut decoder =
        flate2::bufread::MultiGzDecoder::new(compressed).take(limit.saturating_add(1));
    let read = decoder.read_to_end(&mut out);
    if out.len() as u64 > limit {
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        problems.push(ReadProblem {
            location: Location::Byte(limit),
            message: format!(
                "the {} gzip bytes decompress to more than {limit} bytes, far more than any \
                 CloudTrail file: the rest is not read (a gzip bomb?)",
                compressed.len()
            ),
        });
        return out;
    }
    if let Err(error) = read {
        let consumed = compressed.len() - decoder.get_ref().get_ref().len();
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

thread_local! {
    /// libdeflate's decompressor keeps its tables between calls.
    static WHOLE: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// The common case, fast: one gzip member (as CloudTrail writes) whose trailer gives its size
/// within `limit`, inflated by libdeflate in one call into a buffer of exactly that size. Any
/// other input (several members, damage, a size past the limit or 4 GiB) is `None`, for the
/// streaming path, which salvages and reports. libdeflate inflates only the first member and
/// checks it against its own trailer; the output also matching the size and CRC-32 in the
/// input's last eight bytes shows that member was the whole input.
fn gunzip_whole(compressed: &[u8], limit: u64) -> Option<Vec<u8>> {
    let trailer = compressed.last_chunk::<8>()?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]) as usize;
    if size as u64 > limit || size > compressed.len().saturating_mul(MAX_WHOLE_RATIO) {
        return None;
    }
    let mut out = vec![0; size];
    let inflated = WHOLE.with(|decompressor| {
        decompressor
            .borrow_mut()
            .gzip_decompress(compressed, &mut out)
    });
    (inflated.ok()? == size && libdeflater::crc32(&out) == crc).then_some(out)
}

/// The most a trailer may claim an input inflates to, per compressed byte, for the one-call
/// path. CloudTrail's JSON compresses 10-30:1; a trailer claiming more (a gzip bomb, or one
/// lying about its size) takes the streaming path, which stops at the limit as it goes,
/// rather than having libdeflate fill a buffer of the claimed size first.
const MAX_WHOLE_RATIO: usize = 64;

/// The most deflate data can expand: 1032 bytes out per byte in.
const MAX_DEFLATE_RATIO: usize = 1032;

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
