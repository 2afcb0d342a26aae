//! Paths inside granted directories, on Windows.
//!
//! Windows has no `openat2(RESOLVE_BENEATH)`: a guest path is resolved by
//! name below the granted directory's path ([`crate::winpath`] refuses
//! `..` above it, absolute paths, drive letters, streams, `\\` and device
//! names), and each existing component on the way is looked at: a
//! symbolic link or junction is never followed (`ENOTCAPABLE`, or
//! `ELOOP` when the guest asked not to follow the last one), even one
//! pointing inside, since where it points may change. Files are opened
//! with `FILE_FLAG_OPEN_REPARSE_POINT` and checked again once open, so a
//! link swapped in for the last component is not followed either; one
//! swapped in for a directory on the way between the check and the open
//! could still be (the check and the use are separate calls here).

use std::fs::{Metadata, OpenOptions};
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use unibpf_hostcall::{GuestMemory, GuestMemoryMut};

use crate::ctx::{FdKind, WasiCtx};
use crate::errno::{WasiErrno, WasiResult};
use crate::fs_calls::{write_dirents, write_stdio_filestat};
use crate::host::DirFd;
use crate::io::{
    FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, FILETYPE_SYMBOLIC_LINK, FILETYPE_UNKNOWN,
};
use crate::winpath;

const MAX_PATH: u64 = 4096;
const OFLAGS_CREAT: u16 = 1;
const OFLAGS_DIRECTORY: u16 = 2;
const OFLAGS_EXCL: u16 = 4;
const OFLAGS_TRUNC: u16 = 8;
const FDFLAGS_APPEND: u16 = 1;
const LOOKUP_SYMLINK_FOLLOW: u32 = 1;
const RIGHTS_FD_READ: u64 = 1 << 1;
const RIGHTS_FD_WRITE: u64 = 1 << 6;
const RIGHTS_FD_READDIR: u64 = 1 << 14;
/// winbase.h: open a reparse point itself, not what it points to.
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// winbase.h: needed to open a directory.
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;

fn dir_path(ctx: &mut WasiCtx, fd: i32) -> WasiResult<PathBuf> {
    match ctx.get(fd)? {
        FdKind::Dir { fd: dir, .. } => Ok(dir.path.clone()),
        _ => Err(WasiErrno::NOTDIR),
    }
}

fn guest_path(mem: &[u8], ptr: u32, len: u32) -> WasiResult<String> {
    if u64::from(len) > MAX_PATH {
        return Err(WasiErrno::NAMETOOLONG);
    }
    let bytes = GuestMemory::new(mem).slice(u64::from(ptr), u64::from(len))?;
    let s = std::str::from_utf8(bytes).map_err(|_| WasiErrno::ILSEQ)?;
    if s.contains('\0') {
        return Err(WasiErrno::INVAL);
    }
    Ok(s.to_string())
}

/// The host path `path` names below `dir`, with no symlink or junction
/// on the way; the last component may be one only when `follow` is
/// false (then the link itself is meant). It need not exist.
fn resolve(dir: &Path, path: &str, follow: bool) -> WasiResult<PathBuf> {
    let parts = winpath::components(path)?;
    let mut host = dir.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        host.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if !last {
                    return Err(WasiErrno::NOTCAPABLE);
                }
                if follow {
                    return Err(WasiErrno::NOTCAPABLE);
                }
            }
            Ok(meta) if !last && !meta.is_dir() => return Err(WasiErrno::NOTDIR),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !last {
                    return Err(WasiErrno::NOENT);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(host)
}

/// `path`'s parent resolved below `dir`, and its last component, for the
/// calls that act on a name (create, remove, rename, readlink).
fn resolve_leaf(dir: &Path, path: &str) -> WasiResult<PathBuf> {
    let parts = winpath::components(path)?;
    if parts.is_empty() {
        return Err(WasiErrno::INVAL);
    }
    resolve(dir, path, false)
}

fn filetype_of(meta: &Metadata) -> u8 {
    let ty = meta.file_type();
    if ty.is_symlink() {
        FILETYPE_SYMBOLIC_LINK
    } else if ty.is_dir() {
        FILETYPE_DIRECTORY
    } else if ty.is_file() {
        FILETYPE_REGULAR_FILE
    } else {
        FILETYPE_UNKNOWN
    }
}

fn ns(t: std::io::Result<SystemTime>) -> u64 {
    t.ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A `filestat`. Windows has no device or inode numbers std can read
/// (volume serial and file index are unstable API): both are 0, links 1.
fn write_filestat(mem: &mut [u8], out: u32, meta: &Metadata) -> WasiResult<()> {
    let mut m = GuestMemoryMut::new(mem);
    let b = u64::from(out);
    m.slice_mut(b, 64)?.fill(0);
    m.write_u8(b + 16, filetype_of(meta))?;
    m.write_u64(b + 24, 1)?;
    m.write_u64(b + 32, meta.file_size())?;
    m.write_u64(b + 40, ns(meta.accessed()))?;
    m.write_u64(b + 48, ns(meta.modified()))?;
    m.write_u64(b + 56, ns(meta.modified()))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn path_open(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    lookup: u32,
    path: (u32, u32),
    oflags: u16,
    rights: u64,
    fdflags: u16,
    out: u32,
) -> WasiResult<()> {
    let path = guest_path(mem, path.0, path.1)?;
    let dir = dir_path(ctx, dirfd)?;
    let follow = lookup & LOOKUP_SYMLINK_FOLLOW != 0;
    let host = resolve(&dir, &path, follow)?;
    let readable = rights & (RIGHTS_FD_READ | RIGHTS_FD_READDIR) != 0;
    let writable = rights & RIGHTS_FD_WRITE != 0;
    let existing = std::fs::symlink_metadata(&host).ok();
    if let Some(meta) = &existing {
        if meta.file_type().is_symlink() {
            // Not followed (see the module's documentation), as O_NOFOLLOW.
            return Err(WasiErrno::LOOP);
        }
        if meta.is_dir() {
            if oflags & (OFLAGS_CREAT | OFLAGS_EXCL) == OFLAGS_CREAT | OFLAGS_EXCL {
                return Err(WasiErrno::EXIST);
            }
            if writable || oflags & OFLAGS_TRUNC != 0 {
                return Err(WasiErrno::ISDIR);
            }
            let new_fd = ctx.insert(FdKind::Dir {
                fd: DirFd { path: host },
                preopen: None,
            })?;
            GuestMemoryMut::new(mem).write_u32(u64::from(out), new_fd as u32)?;
            return Ok(());
        }
    }
    if oflags & OFLAGS_DIRECTORY != 0 {
        return Err(if existing.is_some() {
            WasiErrno::NOTDIR
        } else {
            WasiErrno::NOENT
        });
    }
    let create = oflags & OFLAGS_CREAT != 0;
    let truncate = oflags & OFLAGS_TRUNC != 0;
    let mut options = OpenOptions::new();
    // Windows opens for creating or truncating only with write access;
    // the fd still writes only if the guest asked to.
    options
        .read(readable || !writable)
        .write(writable || create || truncate)
        .truncate(truncate)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS);
    if create && oflags & OFLAGS_EXCL != 0 {
        options.create_new(true);
    } else {
        options.create(create);
    }
    let file = options.open(&host)?;
    if file.metadata()?.file_type().is_symlink() {
        return Err(WasiErrno::LOOP);
    }
    let new_fd = ctx.insert(FdKind::File {
        file,
        readable,
        writable,
        append: fdflags & FDFLAGS_APPEND != 0,
    })?;
    GuestMemoryMut::new(mem).write_u32(u64::from(out), new_fd as u32)?;
    Ok(())
}

pub(crate) fn path_filestat_get(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    lookup: u32,
    path: (u32, u32),
    out: u32,
) -> WasiResult<()> {
    let path = guest_path(mem, path.0, path.1)?;
    let dir = dir_path(ctx, dirfd)?;
    let host = resolve(&dir, &path, lookup & LOOKUP_SYMLINK_FOLLOW != 0)?;
    let meta = std::fs::symlink_metadata(host)?;
    write_filestat(mem, out, &meta)
}

pub(crate) fn fd_filestat_get(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    out: u32,
) -> WasiResult<()> {
    let meta = match ctx.get(fd)? {
        FdKind::File { file, .. } => file.metadata()?,
        FdKind::Dir { fd, .. } => std::fs::symlink_metadata(&fd.path)?,
        _ => return write_stdio_filestat(mem, out),
    };
    write_filestat(mem, out, &meta)
}

/// Lists a directory as Unix does, `.` and `..` first, then the entries
/// by name (an order that stays the same between the calls a guest makes
/// to page through it). Inode numbers are the entry's place, counted
/// from 1 (libc reads 0 as "look it up").
pub(crate) fn fd_readdir(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    buf: u32,
    len: u32,
    cookie: u64,
    used: u32,
) -> WasiResult<()> {
    let dir = dir_path(ctx, fd)?;
    let mut names: Vec<(String, u8)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let ty = match entry.file_type() {
            Ok(t) if t.is_symlink() => FILETYPE_SYMBOLIC_LINK,
            Ok(t) if t.is_dir() => FILETYPE_DIRECTORY,
            Ok(t) if t.is_file() => FILETYPE_REGULAR_FILE,
            _ => FILETYPE_UNKNOWN,
        };
        names.push((entry.file_name().to_string_lossy().into_owned(), ty));
    }
    names.sort();
    let dots = [
        (".".to_string(), FILETYPE_DIRECTORY),
        ("..".to_string(), FILETYPE_DIRECTORY),
    ];
    let listing = dots
        .into_iter()
        .chain(names)
        .map(|(name, ty)| Ok((None, name.into_bytes(), ty)));
    write_dirents(mem, (buf, len, used), cookie, listing)
}

fn at_leaf(mem: &[u8], ctx: &mut WasiCtx, dirfd: i32, path: (u32, u32)) -> WasiResult<PathBuf> {
    let path = guest_path(mem, path.0, path.1)?;
    let dir = dir_path(ctx, dirfd)?;
    resolve_leaf(&dir, &path)
}

fn unlink(host: &Path) -> WasiResult<()> {
    let meta = std::fs::symlink_metadata(host)?;
    if meta.is_dir() {
        return Err(WasiErrno::ISDIR);
    }
    Ok(std::fs::remove_file(host)?)
}

fn remove_dir(host: &Path) -> WasiResult<()> {
    let meta = std::fs::symlink_metadata(host)?;
    if !meta.is_dir() {
        return Err(WasiErrno::NOTDIR);
    }
    std::fs::remove_dir(host).map_err(|e| {
        // ERROR_DIR_NOT_EMPTY (145)
        if e.raw_os_error() == Some(145) {
            WasiErrno::NOTEMPTY
        } else {
            e.into()
        }
    })
}

pub(crate) fn create_directory(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<()> {
    let host = at_leaf(mem, ctx, dirfd, path)?;
    Ok(std::fs::create_dir(host)?)
}

pub(crate) fn remove_directory(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<()> {
    remove_dir(&at_leaf(mem, ctx, dirfd, path)?)
}

pub(crate) fn unlink_file(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<()> {
    unlink(&at_leaf(mem, ctx, dirfd, path)?)
}

/// Renames `from` (a directory fd and a path below it) to `to`.
pub(crate) fn rename(
    mem: &[u8],
    ctx: &mut WasiCtx,
    from: (i32, (u32, u32)),
    to: (i32, (u32, u32)),
) -> WasiResult<()> {
    let from = at_leaf(mem, ctx, from.0, from.1)?;
    let to = at_leaf(mem, ctx, to.0, to.1)?;
    Ok(std::fs::rename(from, to)?)
}

/// The target of the symbolic link at `path`, with `/` separators.
pub(crate) fn readlink(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<Vec<u8>> {
    let host = at_leaf(mem, ctx, dirfd, path)?;
    if !std::fs::symlink_metadata(&host)?.file_type().is_symlink() {
        return Err(WasiErrno::INVAL);
    }
    let target = std::fs::read_link(&host)?;
    Ok(target.to_string_lossy().replace('\\', "/").into_bytes())
}
