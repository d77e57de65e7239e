//! One sandbox per directory: a pid file claims the directory while a sandbox runs, so a
//! second one fails with a clear message instead of overwriting the first one's kubeconfig.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file that claims a directory.
pub const PID_FILE: &str = "sandbox.pid";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{dir} is in use by another rolesync sandbox (pid {pid}); stop it or pass --dir <another directory>"
    )]
    InUse { dir: PathBuf, pid: u32 },
    #[error("cannot claim {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Who holds a directory, from its pid file's contents and whether that process lives.
#[derive(Debug, PartialEq, Eq)]
pub enum Holder {
    Alive(u32),
    /// No readable pid, or its process has gone (a sandbox that was killed): reclaimable.
    Stale,
}

pub fn holder(contents: &str, alive: impl Fn(u32) -> bool) -> Holder {
    match contents.trim().parse::<u32>() {
        Ok(pid) if alive(pid) => Holder::Alive(pid),
        _ => Holder::Stale,
    }
}

fn process_alive(pid: u32) -> bool {
    // Linux and most Unixes expose running processes under /proc; elsewhere, assume alive.
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Holds a directory until dropped.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    /// Claims `dir` for this process, taking over a pid file a dead process left behind.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let path = dir.join(PID_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id()).map_err(io)?;
                    return Ok(DirLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let contents = std::fs::read_to_string(&path).unwrap_or_default();
                    match holder(&contents, process_alive) {
                        Holder::Alive(pid) => {
                            return Err(LockError::InUse {
                                dir: dir.to_owned(),
                                pid,
                            });
                        }
                        Holder::Stale => std::fs::remove_file(&path).map_err(io)?,
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        // Another sandbox claimed it between our removal of a stale file and our create.
        let contents = std::fs::read_to_string(&path).unwrap_or_default();
        Err(LockError::InUse {
            dir: dir.to_owned(),
            pid: contents.trim().parse().unwrap_or(0),
        })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_pid_holds_the_directory_and_a_dead_or_garbled_one_does_not() {
        assert_eq!(holder("4242\n", |p| p == 4242), Holder::Alive(4242));
        assert_eq!(holder("4242\n", |_| false), Holder::Stale);
        assert_eq!(holder("", |_| true), Holder::Stale);
        assert_eq!(holder("not a pid", |_| true), Holder::Stale);
    }

    #[test]
    fn a_second_claim_fails_until_the_first_is_released() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = DirLock::acquire(dir.path()).expect("first claim");
        let err = DirLock::acquire(dir.path()).expect_err("second claim");
        assert!(
            matches!(err, LockError::InUse { pid, .. } if pid == std::process::id()),
            "{err}"
        );
        assert!(err.to_string().contains("--dir"), "{err}");
        drop(first);
        assert!(!dir.path().join(PID_FILE).exists());
        DirLock::acquire(dir.path()).expect("claim after release");
    }

    #[test]
    fn a_pid_file_left_by_a_dead_sandbox_is_taken_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Above any pid_max Linux allows, so no such process exists.
        std::fs::write(dir.path().join(PID_FILE), "4294967290\n").expect("write");
        let _lock = DirLock::acquire(dir.path()).expect("stale claim taken over");
        let now = std::fs::read_to_string(dir.path().join(PID_FILE)).expect("read");
        assert_eq!(now.trim(), std::process::id().to_string());
    }
}
