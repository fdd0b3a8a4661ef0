//! Hand-made tar streams, including what well-behaved builders refuse to write.

use std::io::{self, Read, Write};

/// Writes raw tar entries: names, link names and types are taken as given.
#[derive(Default)]
pub(crate) struct RawTar {
    out: Vec<u8>,
}

pub(crate) fn header(name: &[u8], kind: u8, size: u64, link: &[u8], mode: u32) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::new(kind));
    let old = h.as_old_mut();
    assert!(
        name.len() <= 100 && link.len() <= 100,
        "use a long-name record"
    );
    old.name[..name.len()].copy_from_slice(name);
    old.linkname[..link.len()].copy_from_slice(link);
    h.set_cksum();
    *h.as_bytes()
}

impl RawTar {
    pub(crate) fn new() -> RawTar {
        RawTar::default()
    }

    pub(crate) fn entry(
        mut self,
        name: &[u8],
        kind: u8,
        data: &[u8],
        link: &[u8],
        mode: u32,
    ) -> Self {
        self.out
            .extend_from_slice(&header(name, kind, data.len() as u64, link, mode));
        self.data(data)
    }

    fn data(mut self, data: &[u8]) -> Self {
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0, pad));
        self
    }

    pub(crate) fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name.as_bytes(), b'0', data, b"", 0o644)
    }

    pub(crate) fn file_mode(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.entry(name.as_bytes(), b'0', data, b"", mode)
    }

    pub(crate) fn dir(self, name: &str) -> Self {
        self.entry(name.as_bytes(), b'5', b"", b"", 0o755)
    }

    pub(crate) fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name.as_bytes(), b'2', b"", target.as_bytes(), 0o777)
    }

    pub(crate) fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name.as_bytes(), b'1', b"", target.as_bytes(), 0o644)
    }

    /// A GNU long-name record (`L`) for the next entry.
    pub(crate) fn gnu_long_name(self, name: &[u8]) -> Self {
        let mut data = name.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'L', &data, b"", 0o644)
    }

    /// A GNU long-link record (`K`) for the next entry.
    pub(crate) fn gnu_long_link(self, target: &[u8]) -> Self {
        let mut data = target.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'K', &data, b"", 0o644)
    }

    /// A PAX extended header (`x`) for the next entry.
    pub(crate) fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut data = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", where len counts itself.
            let body = key.len() + value.len() + 3;
            let mut len = body + body.to_string().len();
            if len.to_string().len() != body.to_string().len() {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        self.entry(b"PaxHeaders/x", b'x', &data, b"", 0o644)
    }

    /// The stream with its end-of-archive marker.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0; 1024]);
        self.out
    }

    /// The stream without its end-of-archive marker.
    pub(crate) fn unfinished(self) -> Vec<u8> {
        self.out
    }
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A reader that yields pieces made on demand and counts what was taken from it.
pub(crate) struct Generated<F: FnMut(u64) -> Option<Vec<u8>>> {
    make: F,
    index: u64,
    piece: Vec<u8>,
    pos: usize,
    pub(crate) taken: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<F: FnMut(u64) -> Option<Vec<u8>>> Generated<F> {
    pub(crate) fn new(make: F) -> Self {
        Generated {
            make,
            index: 0,
            piece: Vec::new(),
            pos: 0,
            taken: std::rc::Rc::default(),
        }
    }
}

impl<F: FnMut(u64) -> Option<Vec<u8>>> Read for Generated<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.piece.len() {
            match (self.make)(self.index) {
                Some(piece) => {
                    self.piece = piece;
                    self.pos = 0;
                    self.index += 1;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.pos);
        buf[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        self.taken.set(self.taken.get() + n as u64);
        Ok(n)
    }
}

/// A gzip stream of one tar entry `zeros` announcing `size` bytes, followed by `size`
/// zeros, made lazily: the deflate stream is cut into full-flush blocks of 1 MiB of zeros,
/// which compress to the same bytes each time. 10 GB of zeros become about 10 MB.
pub(crate) fn zero_bomb(size: u64) -> Generated<impl FnMut(u64) -> Option<Vec<u8>>> {
    use flate2::{Compress, Compression, FlushCompress};
    const BLOCK: usize = 1024 * 1024;
    let mut compress = Compress::new(Compression::best(), false);
    let mut deflate = |input: &[u8], flush| {
        let mut out = Vec::with_capacity(64 * 1024);
        let mut consumed = 0;
        loop {
            out.reserve(64 * 1024);
            let before = compress.total_in();
            compress
                .compress_vec(&input[consumed..], &mut out, flush)
                .unwrap();
            consumed += usize::try_from(compress.total_in() - before).unwrap();
            if consumed == input.len() && out.len() < out.capacity() {
                return out;
            }
        }
    };
    let head = header(b"zeros", b'0', size, b"", 0o644);
    let mut first = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    first.extend(deflate(&head, FlushCompress::Full));
    let zeros = vec![0; BLOCK];
    let block = deflate(&zeros, FlushCompress::Full);
    let again = deflate(&zeros, FlushCompress::Full);
    assert_eq!(block, again, "full-flush blocks of zeros compress alike");
    let blocks = size.div_ceil(BLOCK as u64);
    Generated::new(move |i| match i {
        0 => Some(first.clone()),
        i if i <= blocks => Some(block.clone()),
        _ => None,
    })
}

/// A plain tar stream of `count` empty files, made lazily.
pub(crate) fn many_empty_entries(count: u64) -> Generated<impl FnMut(u64) -> Option<Vec<u8>>> {
    Generated::new(move |i| match i {
        i if i < count => {
            let name = format!("e/{:03}/{i:07}", i / 1000);
            Some(header(name.as_bytes(), b'0', 0, b"", 0o644).to_vec())
        }
        i if i == count => Some(vec![0; 1024]),
        _ => None,
    })
}
