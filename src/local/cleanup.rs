//! What must not outlive `gate run`: the process groups of running checks and the temporary worktrees, cleaned up on Ctrl-C, on panic and on exit.
//!
//! The runner registers each check's process group while it runs and the worktree guard
//! registers its worktree while it exists. Normal control flow cleans up through drops; this
//! registry is for the paths where drops do not run: a second Ctrl-C (the process exits at
//! once), and a panic in a release build (`panic = "abort"`, so no unwinding) through the hook
//! [`install_panic_hook`] sets.

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

/// A worktree to remove: the repository it belongs to, the worktree, the temporary folder
/// holding it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveWorktree {
    /// The main repository's work tree.
    pub repo_dir: PathBuf,
    /// The worktree.
    pub path: PathBuf,
    /// The temporary folder around it (removed too).
    pub parent: PathBuf,
}

static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static WORKTREES: Mutex<Vec<LiveWorktree>> = Mutex::new(Vec::new());

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remembers a running process group (its leader's pid).
pub fn register_group(pgid: i32) {
    lock(&GROUPS).insert(pgid);
}

/// Forgets a process group.
pub fn unregister_group(pgid: i32) {
    lock(&GROUPS).remove(&pgid);
}

/// Sends `signal` to every registered process group.
pub fn signal_groups(signal: Signal) {
    for &pgid in lock(&GROUPS).iter() {
        let _ = signal::killpg(Pid::from_raw(pgid), signal);
    }
}

/// Remembers a worktree to remove.
pub fn register_worktree(w: LiveWorktree) {
    lock(&WORKTREES).push(w);
}

/// Forgets a worktree (it was removed, or is kept on purpose).
pub fn unregister_worktree(path: &std::path::Path) {
    lock(&WORKTREES).retain(|w| w.path != path);
}

/// Kills every registered process group (SIGKILL) and removes every registered worktree.
pub fn cleanup_all() {
    signal_groups(Signal::SIGKILL);
    let live: Vec<LiveWorktree> = std::mem::take(&mut *lock(&WORKTREES));
    for w in live {
        crate::local::worktree::remove(&w);
    }
}

/// Installs (once per process) a panic hook that runs [`cleanup_all`] before the previous hook.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            cleanup_all();
            previous(info);
        }));
    });
}

/// A request to stop: set by Ctrl-C (or a test), polled by the runner.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
}

impl Cancel {
    /// Not cancelled.
    pub const fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
        }
    }

    /// Asks everything to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The process-wide cancellation that Ctrl-C sets (see [`install_interrupt_handler`]).
pub static INTERRUPT: Cancel = Cancel::new();

/// Installs (once per process) the Ctrl-C / SIGTERM / SIGHUP handler: the first signal sets
/// [`INTERRUPT`] (the runner then stops every check's process group and the run ends as
/// cancelled, removing its worktree on the way out); a second one kills every process group,
/// removes every worktree and exits with 130 at once. Returns false when another handler is
/// already installed.
pub fn install_interrupt_handler() -> bool {
    static ONCE: Once = Once::new();
    static OK: AtomicBool = AtomicBool::new(false);
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if INTERRUPT.is_cancelled() {
                cleanup_all();
                std::process::exit(130);
            }
            INTERRUPT.cancel();
        });
        OK.store(installed.is_ok(), Ordering::SeqCst);
    });
    OK.load(Ordering::SeqCst)
}
