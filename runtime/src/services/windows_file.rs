//! The storage database's file on Windows: redb's own file backend, except
//! for reads.
//!
//! redb 3.1 reads on Windows with `seek_read` in a loop that does not stop
//! when the file ends: opening a truncated database spins forever instead
//! of failing (on Unix, `read_exact_at` reports the end of the file). This
//! backend reads the same way and reports the end of the file as
//! `UnexpectedEof`, which redb turns into an error the host reports as a
//! corrupt database. Locking, writes, length and sync stay redb's.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::FileExt;
use std::path::Path;

use redb::backends::FileBackend;
use redb::{DatabaseError, StorageBackend};

/// redb's [`FileBackend`] with reads that end at the end of the file.
#[derive(Debug)]
pub(crate) struct WindowsFile {
    /// A second handle to the same file, for reads.
    reader: File,
    inner: FileBackend,
}

impl WindowsFile {
    /// Opens (creating if needed) the database file at `path`, as
    /// `redb::Database::create` does, and takes redb's lock on it.
    pub(crate) fn open(path: &Path) -> Result<Self, DatabaseError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let reader = file.try_clone()?;
        Ok(Self { reader, inner: FileBackend::new(file)? })
    }
}

impl StorageBackend for WindowsFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, mut offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < out.len() {
            match self.reader.seek_read(&mut out[done..], offset) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the database file ends early")),
                Ok(n) => {
                    done += n;
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }
}
