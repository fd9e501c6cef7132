//! Reading the files a plugin bundle names — its `plugin.toml`, its module
//! or library, its components, a library module, a signature — with a
//! bound on what each may cost.
//!
//! Every such file is opened without blocking, checked to be a regular
//! file (a FIFO would block the reader until someone writes to it, a device
//! such as `/dev/zero` never ends), and checked against its size limit
//! before a byte is read; the read itself stops one byte past the limit, so
//! a file that grows while it is read is still refused.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use crate::Error;

/// The largest `plugin.toml` read: 64 KiB.
pub const MAX_MANIFEST_SIZE: u64 = 64 << 10;

/// The largest signature file (`plugin.sig`) read: 1 KiB.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 10;

/// Reads the plugin file `path`, refusing anything but a regular file and
/// anything over `limit` bytes; `limit_name` names the limit in the error
/// (`max_module_size`).
///
/// ```
/// use wasp_runtime::{Error, read_plugin_file};
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("echo.wasm");
/// std::fs::write(&file, b"\0asm\x01\0\0\0")?;
/// assert_eq!(read_plugin_file(&file, 8, "max_module_size")?.len(), 8);
/// let err = read_plugin_file(&file, 4, "max_module_size").unwrap_err();
/// assert!(matches!(err, Error::FileTooLarge { size: 8, limit: 4, .. }), "{err}");
/// let err = read_plugin_file(dir.path(), 4, "max_module_size").unwrap_err();
/// assert!(err.to_string().contains("is a directory, not a regular file"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::NotRegularFile`] for a FIFO, a device, a socket or a
/// directory; [`Error::FileTooLarge`] for a file over the limit (before
/// reading it, or when it grew past the limit while being read);
/// [`Error::Io`] when it cannot be opened or read.
pub fn read_plugin_file(path: &Path, limit: u64, limit_name: &'static str) -> Result<Vec<u8>, Error> {
    let io = |source: std::io::Error| Error::Io { path: path.to_owned(), source };
    let (file, length) = open_plugin_file(path)?;
    let too_large = |size: u64| Error::FileTooLarge { path: path.to_owned(), size, limit, limit_name };
    if length > limit {
        return Err(too_large(length));
    }
    // The length is a hint (files in /proc say 0); the `take` is the bound.
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Opens the plugin file `path` without waiting on it, and returns it with
/// its length, refusing anything but a regular file: for a caller that
/// reads only part of it (its first bytes, to tell its kind).
///
/// # Errors
///
/// [`Error::NotRegularFile`] for a FIFO, a device, a socket or a
/// directory; [`Error::Io`] when it cannot be opened.
pub fn open_plugin_file(path: &Path) -> Result<(File, u64), Error> {
    let io = |source: std::io::Error| Error::Io { path: path.to_owned(), source };
    let file = open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    check_regular(path, &metadata)?;
    Ok((file, metadata.len()))
}

/// [`read_plugin_file`] on a blocking thread, for async callers.
///
/// # Errors
///
/// As [`read_plugin_file`]; [`Error::Internal`] if the thread failed.
pub async fn read_plugin_file_async(path: &Path, limit: u64, limit_name: &'static str) -> Result<Vec<u8>, Error> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || read_plugin_file(&owned, limit, limit_name))
        .await
        .map_err(|e| Error::Internal(format!("the task reading `{}` failed: {e}", path.display())))?
}

/// Opens `path` for reading without waiting for a writer: a FIFO opened
/// for reading blocks until one comes, and the file's type is only known
/// for certain once it is open (a check before opening could be raced).
#[cfg(unix)]
fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

/// Opens `path` for reading. Windows has no FIFOs in its file system
/// (named pipes live under `\\.\pipe\`), and opening a directory fails.
#[cfg(not(unix))]
fn open(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Refuses anything but a regular file, naming what it is.
fn check_regular(path: &Path, metadata: &Metadata) -> Result<(), Error> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let found = if kind.is_dir() { "a directory" } else { special_kind(&kind) };
    Err(Error::NotRegularFile { path: path.to_owned(), found })
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("entry.wasm");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let err = read_plugin_file(&fifo, 1 << 20, "max_module_size").unwrap_err();
        assert!(matches!(err, Error::NotRegularFile { found: "a FIFO (named pipe)", .. }), "{err}");
        assert!(err.to_string().contains("is a FIFO (named pipe), not a regular file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused() {
        let err = read_plugin_file(Path::new("/dev/zero"), 1 << 20, "max_module_size").unwrap_err();
        assert!(matches!(err, Error::NotRegularFile { found: "a character device", .. }), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_longer_than_its_length_says_is_cut_at_the_limit() {
        // Files in /proc say they are empty, and are not.
        let err = read_plugin_file(Path::new("/proc/self/maps"), 16, "max_module_size").unwrap_err();
        assert!(matches!(err, Error::FileTooLarge { size: 17, limit: 16, .. }), "{err}");
    }

    #[test]
    fn a_sparse_file_over_the_limit_is_refused_by_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wasm");
        File::create(&path).unwrap().set_len(256 << 20).unwrap();
        let err = read_plugin_file(&path, 32 << 20, "max_module_size").unwrap_err();
        assert!(matches!(err, Error::FileTooLarge { size, .. } if size == 256 << 20), "{err}");
        assert!(err.to_string().contains("268435456 bytes, over the limit `max_module_size` of 33554432"), "{err}");
    }
}
