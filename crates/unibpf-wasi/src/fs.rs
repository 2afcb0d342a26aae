//! Paths inside granted directories.
//!
//! Every lookup goes through `openat2(RESOLVE_BENEATH)` relative to a directory the
//! guest was granted, so `..`, absolute paths and symlinks cannot lead outside it.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use unibpf_hostcall::{GuestMemory, GuestMemoryMut};

use crate::ctx::{FdKind, WasiCtx};
use crate::errno::{WasiErrno, WasiResult};
use crate::fs_calls::{write_dirents, write_stdio_filestat};
use crate::io::{
    FILETYPE_CHARACTER_DEVICE, FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, FILETYPE_SYMBOLIC_LINK,
    FILETYPE_UNKNOWN,
};

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

fn dir_fd(ctx: &mut WasiCtx, fd: i32) -> WasiResult<BorrowedFd<'_>> {
    match ctx.get(fd)? {
        FdKind::Dir { fd: dir, .. } => {
            let dir: &OwnedFd = dir;
            Ok(dir.as_fd())
        }
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

fn open_beneath(dir: BorrowedFd<'_>, path: &str, flags: OFlag, mode: Mode) -> WasiResult<OwnedFd> {
    let path = if path.is_empty() { "." } else { path };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(dir, path, how).map_err(|e| match e {
        // RESOLVE_BENEATH refused a path that leaves the granted directory.
        nix::errno::Errno::EXDEV => WasiErrno::NOTCAPABLE,
        e => e.into(),
    })
}

/// The directory holding the last component of `path`, and that component.
fn parent_and_leaf(dir: BorrowedFd<'_>, path: &str) -> WasiResult<(OwnedFd, String)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, leaf) = match trimmed.rsplit_once('/') {
        Some((p, l)) => (if p.is_empty() { "/" } else { p }, l),
        None => (".", trimmed),
    };
    if leaf.is_empty() || leaf == "." || leaf == ".." {
        return Err(WasiErrno::INVAL);
    }
    let parent = open_beneath(
        dir,
        parent,
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    Ok((parent, leaf.to_string()))
}

fn filetype_of(st: &FileStat) -> u8 {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => FILETYPE_DIRECTORY,
        SFlag::S_IFREG => FILETYPE_REGULAR_FILE,
        SFlag::S_IFLNK => FILETYPE_SYMBOLIC_LINK,
        SFlag::S_IFCHR => FILETYPE_CHARACTER_DEVICE,
        _ => FILETYPE_UNKNOWN,
    }
}

fn write_filestat(mem: &mut [u8], out: u32, st: &FileStat) -> WasiResult<()> {
    let ns = |s: i64, n: i64| {
        (s.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(n.max(0) as u64)
    };
    let mut m = GuestMemoryMut::new(mem);
    let b = u64::from(out);
    m.slice_mut(b, 64)?.fill(0);
    m.write_u64(b, st.st_dev)?;
    m.write_u64(b + 8, st.st_ino)?;
    m.write_u8(b + 16, filetype_of(st))?;
    // nlink_t is 64-bit on x86_64 but 32-bit on aarch64.
    #[allow(clippy::useless_conversion)]
    m.write_u64(b + 24, u64::from(st.st_nlink))?;
    m.write_u64(b + 32, st.st_size.max(0) as u64)?;
    m.write_u64(b + 40, ns(st.st_atime, st.st_atime_nsec))?;
    m.write_u64(b + 48, ns(st.st_mtime, st.st_mtime_nsec))?;
    m.write_u64(b + 56, ns(st.st_ctime, st.st_ctime_nsec))?;
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
    let dir = dir_fd(ctx, dirfd)?;
    let readable = rights & (RIGHTS_FD_READ | RIGHTS_FD_READDIR) != 0;
    let writable = rights & RIGHTS_FD_WRITE != 0;
    let mut flags = match (readable, writable) {
        (_, false) => OFlag::O_RDONLY,
        (false, true) => OFlag::O_WRONLY,
        (true, true) => OFlag::O_RDWR,
    };
    if oflags & OFLAGS_CREAT != 0 {
        flags |= OFlag::O_CREAT;
    }
    if oflags & OFLAGS_EXCL != 0 {
        flags |= OFlag::O_EXCL;
    }
    if oflags & OFLAGS_TRUNC != 0 {
        flags |= OFlag::O_TRUNC;
    }
    if oflags & OFLAGS_DIRECTORY != 0 {
        flags |= OFlag::O_DIRECTORY;
    }
    if lookup & LOOKUP_SYMLINK_FOLLOW == 0 {
        flags |= OFlag::O_NOFOLLOW;
    }
    // openat2 refuses a mode without O_CREAT (EINVAL), unlike openat.
    let mode = if flags.contains(OFlag::O_CREAT) {
        Mode::from_bits_truncate(0o644)
    } else {
        Mode::empty()
    };
    let fd = open_beneath(dir, &path, flags, mode)?;
    let st = nix::sys::stat::fstat(&fd)?;
    let kind = if filetype_of(&st) == FILETYPE_DIRECTORY {
        FdKind::Dir { fd, preopen: None }
    } else {
        FdKind::File {
            file: File::from(fd),
            readable,
            writable,
            append: fdflags & FDFLAGS_APPEND != 0,
        }
    };
    let new_fd = ctx.insert(kind)?;
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
    let dir = dir_fd(ctx, dirfd)?;
    let mut flags = OFlag::O_PATH;
    if lookup & LOOKUP_SYMLINK_FOLLOW == 0 {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = open_beneath(dir, &path, flags, Mode::empty())?;
    let st = nix::sys::stat::fstat(&fd)?;
    write_filestat(mem, out, &st)
}

pub(crate) fn fd_filestat_get(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    out: u32,
) -> WasiResult<()> {
    let entry = ctx.get(fd)?;
    let st = match entry.host_fd() {
        Some(host) => nix::sys::stat::fstat(host)?,
        None => return write_stdio_filestat(mem, out),
    };
    write_filestat(mem, out, &st)
}

pub(crate) fn fd_readdir(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    buf: u32,
    len: u32,
    cookie: u64,
    used: u32,
) -> WasiResult<()> {
    let dir = dir_fd(ctx, fd)?;
    let mut entries = nix::dir::Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    let listing = entries.iter().map(|entry| {
        let entry = entry?;
        let ty = match entry.file_type() {
            Some(nix::dir::Type::Directory) => FILETYPE_DIRECTORY,
            Some(nix::dir::Type::File) => FILETYPE_REGULAR_FILE,
            Some(nix::dir::Type::Symlink) => FILETYPE_SYMBOLIC_LINK,
            Some(nix::dir::Type::CharacterDevice) => FILETYPE_CHARACTER_DEVICE,
            _ => FILETYPE_UNKNOWN,
        };
        Ok((Some(entry.ino()), entry.file_name().to_bytes().to_vec(), ty))
    });
    write_dirents(mem, (buf, len, used), cookie, listing)
}

fn at_leaf(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<(OwnedFd, String)> {
    let path = guest_path(mem, path.0, path.1)?;
    let dir = dir_fd(ctx, dirfd)?;
    parent_and_leaf(dir, &path)
}

pub(crate) fn create_directory(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<()> {
    let (parent, leaf) = at_leaf(mem, ctx, dirfd, path)?;
    Ok(nix::sys::stat::mkdirat(
        &parent,
        leaf.as_str(),
        Mode::from_bits_truncate(0o755),
    )?)
}

pub(crate) fn remove_directory(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<()> {
    unlink_at(mem, ctx, dirfd, path, nix::unistd::UnlinkatFlags::RemoveDir)
}

pub(crate) fn unlink_file(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<()> {
    unlink_at(
        mem,
        ctx,
        dirfd,
        path,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    )
}

/// unlinkat of the path's last component, in its parent directory.
fn unlink_at(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
    flags: nix::unistd::UnlinkatFlags,
) -> WasiResult<()> {
    let (parent, leaf) = at_leaf(mem, ctx, dirfd, path)?;
    Ok(nix::unistd::unlinkat(&parent, leaf.as_str(), flags)?)
}

/// Renames `from` (a directory fd and a path below it) to `to`.
pub(crate) fn rename(
    mem: &[u8],
    ctx: &mut WasiCtx,
    from: (i32, (u32, u32)),
    to: (i32, (u32, u32)),
) -> WasiResult<()> {
    let (from_dir, from) = at_leaf(mem, ctx, from.0, from.1)?;
    let (to_dir, to) = at_leaf(mem, ctx, to.0, to.1)?;
    Ok(nix::fcntl::renameat(
        &from_dir,
        from.as_str(),
        &to_dir,
        to.as_str(),
    )?)
}

/// The target of the symbolic link at `path`, as bytes.
pub(crate) fn readlink(
    mem: &[u8],
    ctx: &mut WasiCtx,
    dirfd: i32,
    path: (u32, u32),
) -> WasiResult<Vec<u8>> {
    let (parent, leaf) = at_leaf(mem, ctx, dirfd, path)?;
    let target = nix::fcntl::readlinkat(&parent, leaf.as_str())?;
    Ok(target.as_encoded_bytes().to_vec())
}
