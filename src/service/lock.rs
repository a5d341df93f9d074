//! One `voxdial run` per database. Two services dialling from one database would offer
//! the same due leads to two dialer cores, and the second's start-up recovery would close
//! the first's live calls as `interrupted`; so the service takes an exclusive lock on a
//! file beside the database before it touches it, and a second start is refused naming
//! the database and the process that holds it.
//!
//! The lock is the kernel's (`flock`) on `<database>.run-lock`, not a row in the database:
//! the kernel drops it when its process dies however it dies (`kill -9`, a crash, the OOM
//! killer), so a restart is never blocked by a stale lock and no heartbeat or staleness
//! timeout has to guess whether a silent holder is dead or just slow, nor whether a pid
//! read back was reused. The file holds the holder's pid, only to name it in the refusal.
//! Like SQLite's own WAL locking, it needs the database on a local file system.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Why the service may not use the database.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process runs the service on this database.
    #[error(
        "database {database} is in use by another `voxdial run` ({holder}); stop it first, \
         or give this one another database"
    )]
    Held {
        /// The database.
        database: PathBuf,
        /// The other process, as its pid or "pid unknown".
        holder: String,
    },
    /// The lock file cannot be opened, locked or written.
    #[error("lock file {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// The lock file of `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".run-lock");
    PathBuf::from(name)
}

impl RunLock {
    /// Take the service's lock on `database` without waiting: refused while another
    /// process holds it.
    pub fn acquire(database: &Path) -> Result<RunLock, LockError> {
        let path = lock_path(database);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut file = o.open(&path).map_err(io)?;
        if let Err(e) = try_lock(&file) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(io(e));
            }
            let mut text = String::new();
            // The holder may be between truncating and writing its pid: then it is unknown.
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid unknown".to_string(),
            };
            return Err(LockError::Held {
                database: database.to_path_buf(),
                holder,
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Leave no pid of a process that no longer holds the lock; the file itself stays
        // (unlinking a lock file races with a process that just opened it).
        let _ = self.file.set_len(0);
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this `File` owns for its whole life; no memory is
    // passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("voxdial.db");
        let first = RunLock::acquire(&db).expect("first");
        assert_eq!(first.path(), dir.path().join("voxdial.db.run-lock"));
        // flock locks belong to the open file description: a second open in the same
        // process is refused like another process would be.
        let err = RunLock::acquire(&db).expect_err("second");
        let text = err.to_string();
        assert!(
            text.contains(&db.display().to_string())
                && text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        let again = RunLock::acquire(&db).expect("free after release");
        drop(again);
    }
}
