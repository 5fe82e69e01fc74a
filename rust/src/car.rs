//! CAR v1 files: read (zero-copy block slices, optional hash check) and write.
//!
//! Layout: `varint(len(header)) ‖ header ‖ { varint(len(cid) + len(data)) ‖ cid ‖ data }*`, the
//! header being the DAG-CBOR map `{roots: [CID...], version: 1}`. Blocks may repeat; callers
//! decide which copy to keep (the first, in strato). Written by hand: the format is small, and we
//! need offsets in every error, a size cap per block, and an incremental parser for streaming.

use crate::cid::Cid;
use crate::dagcbor;
use crate::error::{CarReason, Error, Result};
use crate::ipld::Ipld;
use crate::varint;

/// The default cap on one block's data (the firehose's `#commit.blocks` limit).
pub const DEFAULT_MAX_BLOCK_SIZE: usize = 2_000_000;
/// The cap on the header (a header is a handful of CIDs).
pub const MAX_HEADER_SIZE: usize = 1 << 20;

/// How to read a CAR.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Check that every block hashes to its CID.
    pub verify: bool,
    /// Reject blocks whose data is longer than this.
    pub max_block_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            verify: true,
            max_block_size: DEFAULT_MAX_BLOCK_SIZE,
        }
    }
}

/// One block, borrowing its data from the CAR bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<'a> {
    pub cid: Cid,
    pub data: &'a [u8],
    /// Offset of the block's section in the file.
    pub offset: usize,
}

/// A whole CAR read from memory: roots and every block in file order (duplicates included).
#[derive(Debug, Clone)]
pub struct Car<'a> {
    pub roots: Vec<Cid>,
    pub blocks: Vec<Block<'a>>,
}

/// The outcome of looking at the bytes where a section should start.
enum Section<T> {
    /// A complete section and the position just after it.
    Complete(T, usize),
    /// The buffer ends inside the section.
    Incomplete,
    /// Nothing left at all.
    End,
}

/// Reads a section's length prefix at `pos`: `(start of body, length)` or `None` if the buffer
/// ends inside the varint.
fn section_len(buf: &[u8], pos: usize, base: usize) -> Result<Option<(usize, usize)>> {
    match varint::decode(&buf[pos..]) {
        Ok((len, used)) => {
            let len =
                usize::try_from(len).map_err(|_| Error::car(base + pos, CarReason::Truncated))?;
            Ok(Some((pos + used, len)))
        }
        Err(varint::VarintError::Truncated) => Ok(None),
        Err(varint::VarintError::Invalid) => Err(Error::car(base + pos, CarReason::InvalidVarint)),
    }
}

/// Parses the header section at the start of `buf`.
fn header(buf: &[u8]) -> Result<Section<Vec<Cid>>> {
    if buf.is_empty() {
        return Ok(Section::Incomplete);
    }
    let Some((body, len)) = section_len(buf, 0, 0)? else {
        return Ok(Section::Incomplete);
    };
    if len == 0 {
        return Err(Error::car(0, CarReason::EmptyHeader));
    }
    if len > MAX_HEADER_SIZE {
        return Err(Error::car(0, CarReason::InvalidHeader));
    }
    let Some(bytes) = buf.get(body..body + len) else {
        return Ok(Section::Incomplete);
    };
    Ok(Section::Complete(parse_header(bytes)?, body + len))
}

fn parse_header(bytes: &[u8]) -> Result<Vec<Cid>> {
    let invalid = || Error::car(0, CarReason::InvalidHeader);
    let header = dagcbor::decode(bytes).map_err(|_| invalid())?;
    match header.get("version") {
        Some(Ipld::Integer(1)) => {}
        Some(Ipld::Integer(_)) => return Err(Error::car(0, CarReason::UnsupportedVersion)),
        _ => return Err(invalid()),
    }
    let Some(Ipld::List(roots)) = header.get("roots") else {
        return Err(invalid());
    };
    roots
        .iter()
        .map(|root| match root {
            Ipld::Link(cid) => Ok(*cid),
            _ => Err(invalid()),
        })
        .collect()
}

/// Parses the block section at `pos` in `buf` (`base` is `buf`'s offset in the file).
fn block<'a>(
    buf: &'a [u8],
    pos: usize,
    base: usize,
    options: &Options,
) -> Result<Section<Block<'a>>> {
    if pos >= buf.len() {
        return Ok(Section::End);
    }
    let offset = base + pos;
    let Some((body, len)) = section_len(buf, pos, base)? else {
        return Ok(Section::Incomplete);
    };
    // A section can never be shorter than the smallest CID (a CIDv1 with an empty identity hash).
    if len < 4 {
        return Err(Error::car(offset, CarReason::BlockTooShort));
    }
    let Some(section) = buf
        .get(body..)
        .filter(|rest| rest.len() >= len)
        .map(|rest| &rest[..len])
    else {
        // The whole section is not here yet, but the CID and size cap can already be checked.
        if let Some(head) = buf.get(body..) {
            check_cid_and_size(head, len, offset, options, true)?;
        }
        return Ok(Section::Incomplete);
    };
    let (cid, data) = check_cid_and_size(section, len, offset, options, false)?
        .ok_or(Error::car(offset, CarReason::BlockTooShort))?;
    let found = Block { cid, data, offset };
    if options.verify {
        verify_block(&found)?;
    }
    Ok(Section::Complete(found, body + len))
}

/// Checks that a block's data hashes to its CID.
fn verify_block(block: &Block<'_>) -> Result<()> {
    match block.cid.verify(block.data) {
        Some(true) => Ok(()),
        Some(false) => Err(Error::car(block.offset, CarReason::HashMismatch)),
        None => Err(Error::car(block.offset, CarReason::UnsupportedHash)),
    }
}

/// Below this much block data, verification runs on the calling thread only.
const PARALLEL_VERIFY_BYTES: usize = 1 << 20;

/// Is there enough block data to make spreading its verification over threads worthwhile?
#[must_use]
pub fn worth_parallel_verify(blocks: &[Block<'_>]) -> bool {
    blocks.iter().map(|b| b.data.len()).sum::<usize>() >= PARALLEL_VERIFY_BYTES
}

/// Verifies every block on the calling thread; the error is the first bad block.
///
/// # Errors
/// [`CarReason::HashMismatch`] or [`CarReason::UnsupportedHash`] at the block's offset.
pub fn verify_blocks(blocks: &[Block<'_>]) -> Result<()> {
    blocks.iter().try_for_each(verify_block)
}

/// Verifies every block, on all cores for a large CAR; the error is the first bad block in
/// file order.
fn verify_blocks_parallel(blocks: &[Block<'_>]) -> Result<()> {
    if !worth_parallel_verify(blocks) {
        return verify_blocks(blocks);
    }
    let threads = crate::parallel::available_threads();
    if threads < 2 {
        return verify_blocks(blocks);
    }
    let chunk = blocks.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = blocks
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(verify_block)))
            .collect();
        // Chunks are in file order, so the first error met here is the first in the file.
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    })
}

/// Reads the CID at the start of a section of length `len` and checks the data size.
/// With `partial`, the section may be cut short: a CID that does not fit yet is not an error.
fn check_cid_and_size<'a>(
    section: &'a [u8],
    len: usize,
    offset: usize,
    options: &Options,
    partial: bool,
) -> Result<Option<(Cid, &'a [u8])>> {
    let (cid, used) = match Cid::read_prefix(section) {
        Ok(found) => found,
        Err(Error::Cid {
            reason: crate::error::CidReason::Truncated,
        }) if partial => {
            return Ok(None);
        }
        Err(Error::Cid {
            reason: crate::error::CidReason::Truncated,
        }) => {
            return Err(Error::car(offset, CarReason::BlockTooShort));
        }
        Err(_) => return Err(Error::car(offset, CarReason::InvalidBlockCid)),
    };
    if used > len {
        return Err(Error::car(offset, CarReason::BlockTooShort));
    }
    if len - used > options.max_block_size {
        return Err(Error::car(offset, CarReason::BlockTooLarge));
    }
    Ok(Some((cid, section.get(used..len).unwrap_or_default())))
}

/// Reads a whole CAR held in memory.
///
/// # Errors
/// [`Error::Car`] with the offset of the bad section.
pub fn read<'a>(data: &'a [u8], options: &Options) -> Result<Car<'a>> {
    // Parse first, then hash everything (in parallel when large); a structural error is
    // reported only if no earlier block failed its hash check.
    let (car, outcome) = parse(data, options.max_block_size)?;
    if options.verify {
        verify_blocks_parallel(&car.blocks)?;
    }
    outcome.map(|()| car)
}

/// Reads the structure of a CAR without hashing: the header (its error is returned at once),
/// then every block up to the first structural problem. The second value is that problem, if
/// any; the blocks before it are kept so that a caller can check their hashes first (a bad hash
/// earlier in the file is the error to report).
///
/// # Errors
/// A bad or truncated header.
pub fn parse(data: &[u8], max_block_size: usize) -> Result<(Car<'_>, Result<()>)> {
    let parse = Options {
        verify: false,
        max_block_size,
    };
    let mut car = Car {
        roots: Vec::new(),
        blocks: Vec::new(),
    };
    let mut pos = match header(data)? {
        Section::Complete(roots, next) => {
            car.roots = roots;
            next
        }
        _ => return Err(Error::car(0, CarReason::Truncated)),
    };
    let outcome = loop {
        match block(data, pos, 0, &parse) {
            Ok(Section::Complete(found, next)) => {
                car.blocks.push(found);
                pos = next;
            }
            Ok(Section::End) => break Ok(()),
            Ok(Section::Incomplete) => break Err(Error::car(pos, CarReason::Truncated)),
            Err(err) => break Err(err),
        }
    };
    Ok((car, outcome))
}

/// An incremental reader for CARs larger than memory: feed it chunks, take out complete blocks.
#[derive(Debug, Default)]
pub struct StreamReader {
    options: Options,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: usize,
    /// Bytes at the front of `buf` whose blocks were handed out by the last `feed`.
    consumed: usize,
    roots: Option<Vec<Cid>>,
}

impl StreamReader {
    #[must_use]
    pub fn new(options: Options) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// The roots, once the header has been read.
    #[must_use]
    pub fn roots(&self) -> Option<&[Cid]> {
        self.roots.as_deref()
    }

    /// Adds `chunk` and returns every block completed by it, borrowing their data from the
    /// reader's buffer (no copy; the bytes are released on the next call).
    ///
    /// # Errors
    /// [`Error::Car`] with the file offset of the bad section.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Block<'_>>> {
        // Release what the previous call handed out, then add the new bytes.
        self.buf.drain(..self.consumed);
        self.base += self.consumed;
        self.consumed = 0;
        self.buf.extend_from_slice(chunk);
        let mut pos = 0;
        if self.roots.is_none() {
            match header(&self.buf)? {
                Section::Complete(roots, next) => {
                    self.roots = Some(roots);
                    pos = next;
                }
                _ => return Ok(Vec::new()),
            }
        }
        let mut out = Vec::new();
        while let Section::Complete(found, next) = block(&self.buf, pos, self.base, &self.options)?
        {
            out.push(found);
            pos = next;
        }
        self.consumed = pos;
        Ok(out)
    }

    /// Declares the end of input.
    ///
    /// # Errors
    /// [`CarReason::Truncated`] if the input ended inside the header or a block.
    pub fn finish(&self) -> Result<()> {
        if self.roots.is_none() || self.buf.len() > self.consumed {
            return Err(Error::car(self.base + self.consumed, CarReason::Truncated));
        }
        Ok(())
    }
}

/// Writes a CAR: the header, then each block in the order given.
#[must_use]
pub fn write<'b>(roots: &[Cid], blocks: impl IntoIterator<Item = (&'b Cid, &'b [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(roots, &mut out);
    for (cid, data) in blocks {
        write_block(cid, data, &mut out);
    }
    out
}

/// Appends the header section.
pub fn write_header(roots: &[Cid], out: &mut Vec<u8>) {
    let header = Ipld::Map(vec![
        (
            "roots".into(),
            Ipld::List(roots.iter().copied().map(Ipld::Link).collect()),
        ),
        ("version".into(), Ipld::Integer(1)),
    ]);
    let bytes = dagcbor::encode(&header);
    varint::encode(bytes.len() as u64, out);
    out.extend_from_slice(&bytes);
}

/// Appends one block section.
pub fn write_block(cid: &Cid, data: &[u8], out: &mut Vec<u8>) {
    let cid_bytes = cid.as_bytes();
    varint::encode((cid_bytes.len() + data.len()) as u64, out);
    out.extend_from_slice(cid_bytes);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::{DAG_CBOR, RAW};

    fn sample() -> (Vec<Cid>, Vec<(Cid, Vec<u8>)>) {
        let blocks: Vec<(Cid, Vec<u8>)> = (0u8..5)
            .map(|i| {
                let data = dagcbor::encode(&Ipld::Integer(i64::from(i)));
                (Cid::compute(&data, DAG_CBOR).unwrap(), data)
            })
            .collect();
        (vec![blocks[0].0], blocks)
    }

    fn write_sample() -> Vec<u8> {
        let (roots, blocks) = sample();
        write(&roots, blocks.iter().map(|(c, d)| (c, d.as_slice())))
    }

    fn reason(data: &[u8], options: &Options) -> (&'static str, usize) {
        let err = read(data, options).unwrap_err();
        (err.reason(), err.offset().unwrap())
    }

    #[test]
    fn round_trip() {
        let (roots, blocks) = sample();
        let bytes = write_sample();
        let car = read(&bytes, &Options::default()).unwrap();
        assert_eq!(car.roots, roots);
        let got: Vec<(Cid, Vec<u8>)> = car
            .blocks
            .iter()
            .map(|b| (b.cid, b.data.to_vec()))
            .collect();
        assert_eq!(got, blocks);
    }

    #[test]
    fn stream_matches_whole_read_for_any_chunking() {
        let bytes = write_sample();
        let whole = read(&bytes, &Options::default()).unwrap();
        for chunk in [1, 2, 3, 7, 64, bytes.len()] {
            let mut stream = StreamReader::new(Options::default());
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                got.extend(
                    stream
                        .feed(piece)
                        .unwrap()
                        .iter()
                        .map(|b| (b.cid, b.data.to_vec())),
                );
            }
            stream.finish().unwrap();
            assert_eq!(stream.roots().unwrap(), whole.roots.as_slice());
            assert_eq!(got.len(), whole.blocks.len(), "chunk {chunk}");
        }
    }

    #[test]
    fn stream_reads_cid_v0_blocks_cut_anywhere() {
        // Found by fuzz/ car_stream: a chunk ending just after a CIDv0's first byte (0x12)
        // was refused as an invalid CID, while the whole read accepts the file.
        let data = dagcbor::encode(&Ipld::Integer(7));
        let mut v0 = vec![0x12, 0x20];
        v0.extend_from_slice(Cid::compute(&data, RAW).unwrap().digest());
        let v0 = Cid::from_bytes(&v0).unwrap();
        let bytes = write(&[v0], [(&v0, data.as_slice())]);
        let whole = read(&bytes, &Options::default()).unwrap();
        let block_start = whole.blocks[0].offset + 1; // after the one-byte section length
        for cut in 1..bytes.len() {
            let mut stream = StreamReader::new(Options::default());
            let mut got = stream.feed(&bytes[..cut]).unwrap().len();
            got += stream.feed(&bytes[cut..]).unwrap().len();
            stream.finish().unwrap();
            assert_eq!(got, 1, "cut at {cut} (the CID starts at {block_start})");
        }
    }

    #[test]
    fn stream_fails_like_the_whole_read_on_the_fuzz_crash_input() {
        // fuzz/ car_stream's crashing input: a header, then a section cut short whose CID is a
        // CIDv0, fed in chunks of 62, 7 and 40 bytes; the whole read says it is truncated.
        let hex =
            "3aa265726f6f747381d82a5825000171122064f6ce3b471f1fce796c988e401d356270aca5f946d3\
                   83202c66f0a685f9d29c6776657273696f6e01cf011220d674fe6d04fa92cc5099999999999999\
                   99999999999999999999999999999999fe";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let whole = read(&bytes, &Options::default()).unwrap_err();
        assert_eq!((whole.reason(), whole.offset()), ("truncated", Some(59)));
        let mut stream = StreamReader::new(Options::default());
        for chunk in [&bytes[..62], &bytes[62..69], &bytes[69..]] {
            assert!(stream.feed(chunk).unwrap().is_empty());
        }
        assert_eq!(stream.finish(), Err(whole));
    }

    #[test]
    fn rejects_bad_files_with_offsets() {
        let good = write_sample();
        let opts = Options::default();
        assert_eq!(reason(&good[..3], &opts), ("truncated", 0));
        assert_eq!(reason(&good[..good.len() - 1], &opts).0, "truncated");
        assert_eq!(reason(&[0x00], &opts), ("header length is zero", 0));
        assert_eq!(reason(&[0x80, 0x00], &opts), ("invalid varint", 0));
        assert_eq!(reason(&[0x01, 0xf6], &opts), ("invalid header", 0));
        let mut v2 = Vec::new();
        let header = dagcbor::encode(&Ipld::Map(vec![("version".into(), Ipld::Integer(2))]));
        varint::encode(header.len() as u64, &mut v2);
        v2.extend_from_slice(&header);
        assert_eq!(reason(&v2, &opts), ("unsupported CAR version", 0));

        let header_len = good[0] as usize + 1;
        let mut corrupt = good.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let (why, _) = reason(&corrupt, &opts);
        assert_eq!(why, "block hash mismatch");
        assert!(read(
            &corrupt,
            &Options {
                verify: false,
                ..opts
            }
        )
        .is_ok());

        let mut short = good[..header_len].to_vec();
        short.extend_from_slice(&[0x02, 0x01, 0x71]);
        assert_eq!(
            reason(&short, &opts),
            ("block length too short", header_len)
        );

        let mut bad_cid = good[..header_len].to_vec();
        bad_cid.extend_from_slice(&[0x05, 0x02, 0x71, 0x12, 0x00, 0x00]);
        assert_eq!(reason(&bad_cid, &opts), ("invalid block CID", header_len));

        let data = vec![7u8; 100];
        let cid = Cid::compute(&data, RAW).unwrap();
        let big = write(&[cid], [(&cid, data.as_slice())]);
        let small = Options {
            max_block_size: 99,
            ..opts
        };
        assert_eq!(reason(&big, &small).0, "block too large");
        assert!(read(
            &big,
            &Options {
                max_block_size: 100,
                ..opts
            }
        )
        .is_ok());
    }

    /// A CAR large enough to be verified on several threads.
    fn large_car() -> (Vec<u8>, Vec<usize>) {
        let blocks: Vec<(Cid, Vec<u8>)> = (0u32..400)
            .map(|i| {
                let data = vec![u8::try_from(i % 251).unwrap(); 4096];
                (Cid::compute(&data, RAW).unwrap(), data)
            })
            .collect();
        let bytes = write(
            &[blocks[0].0],
            blocks.iter().map(|(c, d)| (c, d.as_slice())),
        );
        let car = read(&bytes, &Options::default()).unwrap();
        let ends = car.blocks.iter().map(|b| b.offset).collect();
        (bytes, ends)
    }

    #[test]
    fn parallel_verification_reports_the_first_bad_block() {
        let (mut bytes, offsets) = large_car();
        assert!(bytes.len() > PARALLEL_VERIFY_BYTES);
        // Corrupt the last byte of a late block, then of an early one.
        let last_byte_of = |i: usize| offsets[i + 1] - 1;
        bytes[last_byte_of(350)] ^= 1;
        let opts = Options::default();
        assert_eq!(reason(&bytes, &opts), ("block hash mismatch", offsets[350]));
        bytes[last_byte_of(10)] ^= 1;
        assert_eq!(reason(&bytes, &opts), ("block hash mismatch", offsets[10]));
    }

    #[test]
    fn a_bad_hash_before_a_truncation_is_reported_first() {
        let (mut bytes, offsets) = large_car();
        bytes[offsets[1] - 1] ^= 1;
        bytes.truncate(bytes.len() - 1);
        assert_eq!(
            reason(&bytes, &Options::default()),
            ("block hash mismatch", offsets[0])
        );
        let unverified = Options {
            verify: false,
            ..Options::default()
        };
        assert_eq!(reason(&bytes, &unverified).0, "truncated");
    }

    #[test]
    fn streaming_reports_truncation_and_cap_early() {
        let data = vec![7u8; 100];
        let cid = Cid::compute(&data, RAW).unwrap();
        let big = write(&[cid], [(&cid, data.as_slice())]);
        let mut stream = StreamReader::new(Options {
            max_block_size: 10,
            verify: true,
        });
        let err = stream.feed(&big[..big.len() - 50]).unwrap_err();
        assert_eq!(err.reason(), "block too large");
        let mut stream = StreamReader::new(Options::default());
        stream.feed(&big[..big.len() - 1]).unwrap();
        assert_eq!(stream.finish().unwrap_err().reason(), "truncated");
    }
}
