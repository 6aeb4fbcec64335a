//! The inputs of a run: URL arguments and `-i` lists. A list file is opened
//! once, when the flags are resolved (`config.rs` calls [`ListFile::open`]),
//! so that one that cannot be read is an input error before anything is
//! fetched; the open file is read later, line by line, by `source/mod.rs`
//! through [`ListFile::reader`]. It does not parse lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::io::Errno;

/// Where URLs come from, in input order: arguments first, then `-i` sources.
#[derive(Debug, Clone)]
pub enum Input {
    /// A URL or pattern given on the command line (1-based argument index).
    Arg { index: usize, text: String },
    /// A list: an opened file; `None` is standard input.
    List(Option<ListFile>),
}

impl Input {
    /// How error messages name this source (`urls.txt`, `<stdin>`).
    pub fn label(&self) -> String {
        match self {
            Input::Arg { index, .. } => format!("argument {index}"),
            Input::List(Some(list)) => list.path.display().to_string(),
            Input::List(None) => "<stdin>".into(),
        }
    }
}

/// A `-i` list file, opened (not yet read) by `ListFile::open`.
#[derive(Debug, Clone)]
pub struct ListFile {
    path: PathBuf,
    /// Shared by the clones of a `Config`'s inputs: one open file, read
    /// once, by `source/mod.rs`.
    file: Arc<File>,
    /// A FIFO (or a pipe, `-i <(cmd)`): left non-blocking, so a read must
    /// wait in `poll(2)` first (see [`ListFile::open`]).
    fifo: bool,
}

impl ListFile {
    /// Opens a list file, or says why it cannot be read: an OS error, or
    /// that it is a folder.
    ///
    /// It is opened `O_NONBLOCK` because opening a FIFO for reading
    /// otherwise waits for a writer: with `-i f1 -i f2` fed by one program
    /// that writes `f1` (more than a pipe holds) before it opens `f2`, a
    /// blocking open of `f2` here would wait for that program, and it for
    /// haul to read `f1`. A FIFO stays non-blocking: clearing the flag
    /// would not do, because a read on a FIFO whose writer has not opened
    /// it yet returns end-of-file, not a wait. Instead the reader calls
    /// `poll(POLLIN)` before each read ([`ListReader`]): Linux reports no
    /// `POLLHUP` to a reader that opened a FIFO non-blocking until a
    /// writer has opened it, so the poll waits for the writer and its data
    /// (or its close, the true end), as a blocking open and read would.
    /// Anything else (a regular file, a terminal) is made blocking at once.
    pub(crate) fn open(path: &Path) -> Result<ListFile> {
        let cannot = |err: io::Error| anyhow!("cannot read list file {}: {err}", path.display());
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|err| {
                // `-i https://...`: a URL where a list was expected.
                let text = path.to_string_lossy();
                let url = text.starts_with("http://") || text.starts_with("https://");
                match err.kind() {
                    io::ErrorKind::NotFound if url => anyhow!(
                        "cannot read list file {}: {err} (-i takes a list file: give URLs as \
                         arguments, or use -i - to read a list from stdin)",
                        path.display()
                    ),
                    _ => cannot(err),
                }
            })?;
        // fstat(2) of what was opened, not a stat of the name beforehand.
        let kind = file.metadata().map_err(cannot)?.file_type();
        if kind.is_dir() {
            bail!("cannot read list file {}: it is a folder", path.display());
        }
        let fifo = kind.is_fifo();
        if !fifo {
            set_blocking(&file).map_err(cannot)?;
        }
        Ok(ListFile {
            path: path.to_path_buf(),
            file: Arc::new(file),
            fifo,
        })
    }

    /// The path as given to `-i`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Whether reads must wait in `poll(2)` first (see [`ListFile::open`]).
    pub(crate) fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// A reader of the list, from where it stands.
    pub(crate) fn reader(&self) -> ListReader {
        ListReader(self.clone())
    }
}

/// Clears `O_NONBLOCK` on `file`.
fn set_blocking(file: &File) -> io::Result<()> {
    let flags = fcntl_getfl(file)?;
    fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
    Ok(())
}

/// Reads a list file opened by [`ListFile::open`]. A FIFO was left
/// non-blocking (see [`ListFile::open`] for why), so each read first waits
/// in `poll(2)` until there is data or the writer has closed it: Linux
/// reports no `POLLHUP` to such a reader before a writer has opened the
/// FIFO, so a writer that connects late is waited for, not taken for an
/// empty list.
pub(crate) struct ListReader(ListFile);

impl Read for ListReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut file: &File = self.0.file();
        if !self.0.is_fifo() {
            return file.read(buf);
        }
        loop {
            wait_readable(file)?;
            match file.read(buf) {
                // Woken without data (another reader of the FIFO took it).
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                done => return done,
            }
        }
    }
}

/// Waits until `file` has data, an end or an error to report.
fn wait_readable(file: &File) -> io::Result<()> {
    let mut fds = [PollFd::new(file, PollFlags::IN)];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn is_nonblocking(list: &ListFile) -> bool {
        fcntl_getfl(list.file()).unwrap().contains(OFlags::NONBLOCK)
    }

    #[test]
    fn a_url_given_to_i_gets_a_hint() {
        let err = format!(
            "{:#}",
            ListFile::open(Path::new("https://h/list.txt")).unwrap_err()
        );
        assert!(
            err.starts_with("cannot read list file https://h/list.txt: "),
            "{err}"
        );
        assert!(err.contains("use -i - to read a list from stdin"), "{err}");
    }

    #[test]
    fn list_files_that_cannot_be_opened_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("folder")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        let cases = [
            ("missing", "No such file or directory"),
            ("folder", "it is a folder"),
            ("sock", "No such device or address"),
        ];
        for (name, reason) in cases {
            let path = dir.path().join(name);
            let err = format!("{:#}", ListFile::open(&path).unwrap_err());
            let want = format!("cannot read list file {}: ", path.display());
            assert!(err.starts_with(&want), "{name}: {err}");
            assert!(err.contains(reason), "{name}: {err}");
        }
    }

    #[test]
    fn a_regular_list_file_is_read_blocking_and_a_fifo_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("urls.txt");
        std::fs::write(&file, "http://a/\n").unwrap();
        let list = ListFile::open(&file).unwrap();
        assert!(!list.is_fifo() && !is_nonblocking(&list));
        assert_eq!(list.path(), file);

        // No writer: a blocking open would wait here for ever.
        let fifo = dir.path().join("fifo");
        crate::test_support::mkfifo(&fifo, 0o600);
        let (tx, rx) = mpsc::channel();
        let opener = {
            let fifo = fifo.clone();
            std::thread::spawn(move || tx.send(ListFile::open(&fifo).unwrap()).unwrap())
        };
        let Ok(list) = rx.recv_timeout(Duration::from_secs(10)) else {
            // Let the open return, then fail.
            let _writer = OpenOptions::new().write(true).open(&fifo);
            panic!("opening a FIFO waited for a writer");
        };
        opener.join().unwrap();
        assert!(list.is_fifo() && is_nonblocking(&list));
    }
}
