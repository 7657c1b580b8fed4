//! Copying folders for the cache: contents, permissions and modification times, symbolic links
//! as links; never following a link out of the copied folder.

use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// How [`copy_tree`] makes each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A copy of its bytes: `std::fs::copy`, which clones the extents where the file system
    /// can (`copy_file_range` on Linux: a reflink on Btrfs and XFS; `clonefile` on APFS).
    Copy,
    /// A hard link (a copy across file systems): for files nobody writes again (the cache's
    /// own, or a worktree's about to be removed).
    Link,
}

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Files (and links) made.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Copied {
    fn add(&mut self, other: Copied) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

/// Copies `from` (a folder or a file) to `to`. With `keep_existing`, a file already at its
/// place under `to` is left as it is (a restore never replaces a file of the tested tree);
/// otherwise `to` must not exist. Modification times are kept, so tools that compare them
/// (cargo, make) see the outputs as old as they are.
pub fn copy_tree(from: &Path, to: &Path, how: How, keep_existing: bool) -> io::Result<Copied> {
    let meta = fs::symlink_metadata(from)?;
    let mut copied = Copied::default();
    if meta.is_dir() {
        match fs::create_dir(to) {
            Ok(()) => {}
            Err(e) if keep_existing && e.kind() == io::ErrorKind::AlreadyExists => {
                if !fs::symlink_metadata(to)?.is_dir() {
                    return Ok(copied);
                }
            }
            Err(e) => return Err(e),
        }
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            copied.add(copy_tree(
                &from.join(&name),
                &to.join(&name),
                how,
                keep_existing,
            )?);
        }
        let _ = set_mtime(to, meta.modified()?);
        return Ok(copied);
    }
    if keep_existing && fs::symlink_metadata(to).is_ok() {
        return Ok(copied);
    }
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else if meta.is_file() {
        match how {
            How::Copy => {
                fs::copy(from, to)?;
                set_mtime(to, meta.modified()?)?;
            }
            // Across file systems a link cannot be made: copy instead.
            How::Link => {
                if fs::hard_link(from, to).is_err() {
                    fs::copy(from, to)?;
                    set_mtime(to, meta.modified()?)?;
                }
            }
        }
        copied.bytes = meta.len();
    } else {
        // Sockets, pipes and devices are not cached.
        return Ok(copied);
    }
    copied.files = 1;
    Ok(copied)
}

/// Sets a file's (or folder's) modification time.
pub fn set_mtime(path: &Path, time: SystemTime) -> io::Result<()> {
    fs::File::open(path)?.set_modified(time)
}

/// The bytes of the files under `path` (links not followed).
pub fn size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    fs::read_dir(path).map_or(0, |entries| {
        entries.flatten().map(|e| size(&e.path())).sum::<u64>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_copy_keeps_times_links_and_existing_files() {
        let dir = std::env::temp_dir().join(format!(
            "gate-cache-files-{:x}",
            crate::local::store::unique()
        ));
        let from = dir.join("from");
        fs::create_dir_all(from.join("deep")).expect("mkdir");
        fs::write(from.join("deep/out.rlib"), b"cached").expect("write");
        fs::write(from.join("kept"), b"cached").expect("write");
        let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        set_mtime(&from.join("deep/out.rlib"), old).expect("mtime");
        std::os::unix::fs::symlink("deep/out.rlib", from.join("link")).expect("symlink");
        let to = dir.join("to");
        fs::create_dir_all(&to).expect("mkdir");
        fs::write(to.join("kept"), b"tested").expect("write");
        let copied = copy_tree(&from, &to, How::Copy, true).expect("copy");
        assert_eq!(copied, Copied { files: 2, bytes: 6 });
        assert_eq!(fs::read(to.join("deep/out.rlib")).expect("read"), b"cached");
        assert_eq!(fs::read(to.join("kept")).expect("read"), b"tested");
        assert_eq!(
            fs::read_link(to.join("link")).expect("link"),
            Path::new("deep/out.rlib")
        );
        let mtime = fs::metadata(to.join("deep/out.rlib")).and_then(|m| m.modified());
        assert_eq!(mtime.expect("mtime"), old);
        assert_eq!(size(&to), 12);
        assert!(
            copy_tree(&from, &to, How::Copy, false).is_err(),
            "`to` exists"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
