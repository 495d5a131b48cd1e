//! Random access to the input PDF, in memory or on disk, without loading a whole file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes readable at any offset.
pub trait Source {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether the source holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; the range must lie inside the source.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Up to `max` bytes from `offset` (fewer at the end of the source).
    fn window(&self, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        let len = self.len();
        if offset >= len {
            return Ok(Vec::new());
        }
        let n = usize::try_from((len - offset).min(max as u64)).unwrap_or(max);
        let mut buf = vec![0u8; n];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }
}

/// A PDF held in memory.
pub struct MemSource<'a>(pub &'a [u8]);

impl Source for MemSource<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact_at(offset, buf)
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file opened for reading, with its length taken once.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Wraps an open file.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, offset)
    }
}
