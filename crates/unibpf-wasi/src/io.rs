//! Arguments, environment and descriptor I/O.

use std::io::{Seek, SeekFrom};

use unibpf_hostcall::{GuestMemory, GuestMemoryMut};
use wasmi::{Caller, Linker};

use crate::ctx::{FdKind, WasiCtx};
use crate::errno::{WasiErrno, WasiResult};
use crate::{with_ctx, WasiView, MODULE};

pub(crate) const FILETYPE_UNKNOWN: u8 = 0;
pub(crate) const FILETYPE_CHARACTER_DEVICE: u8 = 2;
pub(crate) const FILETYPE_DIRECTORY: u8 = 3;
pub(crate) const FILETYPE_REGULAR_FILE: u8 = 4;
pub(crate) const FILETYPE_SYMBOLIC_LINK: u8 = 7;

const RIGHTS_FD_SEEK: u64 = 1 << 2;
const RIGHTS_FD_TELL: u64 = 1 << 5;
/// Every right preview1 defines.
pub(crate) const RIGHTS_ALL: u64 = (1 << 29) - 1;
const FDFLAGS_APPEND: u16 = 1;

/// Copies a list of NUL-terminated strings out as `argv`/`environ` does.
fn write_string_list(mem: &mut [u8], list: &[Vec<u8>], ptrs: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemoryMut::new(mem);
    let mut at = u64::from(buf);
    for (i, item) in list.iter().enumerate() {
        let slot = u64::from(ptrs) + 4 * i as u64;
        mem.write_u32(slot, u32::try_from(at).map_err(|_| WasiErrno::OVERFLOW)?)?;
        mem.write(at, item)?;
        at += item.len() as u64;
    }
    Ok(())
}

fn write_sizes(mem: &mut [u8], list: &[Vec<u8>], count: u32, size: u32) -> WasiResult<()> {
    let total: usize = list.iter().map(Vec::len).sum();
    let mut mem = GuestMemoryMut::new(mem);
    mem.write_u32(u64::from(count), list.len() as u32)?;
    mem.write_u32(
        u64::from(size),
        u32::try_from(total).map_err(|_| WasiErrno::OVERFLOW)?,
    )?;
    Ok(())
}

/// The (pointer, length) pairs of an iovec array.
pub(crate) fn iovecs(mem: &[u8], ptr: u32, count: u32) -> WasiResult<Vec<(u64, u64)>> {
    const MAX_IOVECS: u32 = 1024;
    if count > MAX_IOVECS {
        return Err(WasiErrno::INVAL);
    }
    let m = GuestMemory::new(mem);
    (0..u64::from(count))
        .map(|i| {
            let at = u64::from(ptr) + 8 * i;
            Ok((u64::from(m.u32(at)?), u64::from(m.u32(at + 4)?)))
        })
        .collect()
}

fn fd_write(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    iovs: u32,
    count: u32,
    nwritten: u32,
) -> WasiResult<()> {
    let list = iovecs(mem, iovs, count)?;
    let entry = ctx.get(fd)?;
    let total = {
        let m = GuestMemory::new(mem);
        let parts = list
            .into_iter()
            .map(|(ptr, len)| m.slice(ptr, len))
            .collect::<Result<Vec<&[u8]>, _>>()?;
        entry.write_vectored(&parts)?
    };
    GuestMemoryMut::new(mem).write_u32(u64::from(nwritten), total as u32)?;
    Ok(())
}

fn fd_read(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    iovs: u32,
    count: u32,
    nread: u32,
) -> WasiResult<()> {
    let list = iovecs(mem, iovs, count)?;
    let control = ctx.control.clone();
    let entry = ctx.get(fd)?;
    let mut m = GuestMemoryMut::new(mem);
    let mut total = 0usize;
    for (ptr, len) in list {
        let buf = m.slice_mut(ptr, len)?;
        if buf.is_empty() {
            continue;
        }
        let n = entry.read(buf, &control)?;
        total += n;
        if n < buf.len() {
            break;
        }
    }
    m.write_u32(u64::from(nread), total as u32)?;
    Ok(())
}

fn file_of(ctx: &mut WasiCtx, fd: i32) -> WasiResult<&mut std::fs::File> {
    match ctx.get(fd)? {
        FdKind::File { file, .. } => Ok(file),
        FdKind::Dir { .. } => Err(WasiErrno::ISDIR),
        _ => Err(WasiErrno::SPIPE),
    }
}

fn fd_pread(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    iovs: u32,
    count: u32,
    offset: u64,
    nread: u32,
) -> WasiResult<()> {
    let list = iovecs(mem, iovs, count)?;
    let file = file_of(ctx, fd)?;
    let mut m = GuestMemoryMut::new(mem);
    let mut total = 0u64;
    for (ptr, len) in list {
        let buf = m.slice_mut(ptr, len)?;
        let n = crate::host::read_at(file, buf, offset + total)?;
        total += n as u64;
        if n < buf.len() {
            break;
        }
    }
    m.write_u32(u64::from(nread), total as u32)?;
    Ok(())
}

fn fd_pwrite(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    iovs: u32,
    count: u32,
    offset: u64,
    nwritten: u32,
) -> WasiResult<()> {
    let list = iovecs(mem, iovs, count)?;
    let file = file_of(ctx, fd)?;
    let mut total = 0u64;
    {
        let m = GuestMemory::new(mem);
        for (ptr, len) in list {
            let buf = m.slice(ptr, len)?;
            let n = crate::host::write_at(file, buf, offset + total)?;
            total += n as u64;
            if n < buf.len() {
                break;
            }
        }
    }
    GuestMemoryMut::new(mem).write_u32(u64::from(nwritten), total as u32)?;
    Ok(())
}

fn fd_seek(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    offset: i64,
    whence: i32,
    newoffset: u32,
) -> WasiResult<()> {
    let file = file_of(ctx, fd)?;
    let pos = match whence {
        0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| WasiErrno::INVAL)?),
        1 => SeekFrom::Current(offset),
        2 => SeekFrom::End(offset),
        _ => return Err(WasiErrno::INVAL),
    };
    let at = file.seek(pos)?;
    GuestMemoryMut::new(mem).write_u64(u64::from(newoffset), at)?;
    Ok(())
}

fn fd_fdstat_get(mem: &mut [u8], ctx: &mut WasiCtx, fd: i32, out: u32) -> WasiResult<()> {
    let (filetype, flags, rights) = match ctx.get(fd)? {
        // wasi-libc's isatty(): a character device without seek/tell rights.
        // That is what makes its stdio line-buffer stdout.
        FdKind::Out { tty: true, .. } => (
            FILETYPE_CHARACTER_DEVICE,
            0,
            RIGHTS_ALL & !(RIGHTS_FD_SEEK | RIGHTS_FD_TELL),
        ),
        FdKind::Out { .. } | FdKind::Stdin(_) => (
            FILETYPE_UNKNOWN,
            0,
            RIGHTS_ALL & !(RIGHTS_FD_SEEK | RIGHTS_FD_TELL),
        ),
        FdKind::File { append, .. } => (
            FILETYPE_REGULAR_FILE,
            if *append { FDFLAGS_APPEND } else { 0 },
            RIGHTS_ALL,
        ),
        FdKind::Dir { .. } => (FILETYPE_DIRECTORY, 0, RIGHTS_ALL),
    };
    let mut m = GuestMemoryMut::new(mem);
    let base = u64::from(out);
    m.slice_mut(base, 24)?.fill(0);
    m.write_u8(base, filetype)?;
    m.write_u16(base + 2, flags)?;
    m.write_u64(base + 8, rights)?;
    m.write_u64(base + 16, RIGHTS_ALL)?;
    Ok(())
}

fn fd_prestat_get(mem: &mut [u8], ctx: &mut WasiCtx, fd: i32, out: u32) -> WasiResult<()> {
    match ctx.get(fd)? {
        FdKind::Dir {
            preopen: Some(name),
            ..
        } => {
            let len = name.len() as u32;
            let mut m = GuestMemoryMut::new(mem);
            m.write_u32(u64::from(out), 0)?;
            m.write_u32(u64::from(out) + 4, len)?;
            Ok(())
        }
        _ => Err(WasiErrno::BADF),
    }
}

fn fd_prestat_dir_name(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    fd: i32,
    path: u32,
    len: u32,
) -> WasiResult<()> {
    match ctx.get(fd)? {
        FdKind::Dir {
            preopen: Some(name),
            ..
        } => {
            if (len as usize) < name.len() {
                return Err(WasiErrno::NAMETOOLONG);
            }
            GuestMemoryMut::new(mem).write(u64::from(path), name.as_bytes())?;
            Ok(())
        }
        _ => Err(WasiErrno::BADF),
    }
}

pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> Result<(), wasmi::Error> {
    l.func_wrap(
        MODULE,
        "args_get",
        |mut c: Caller<'_, T>, argv: u32, buf: u32| {
            with_ctx(&mut c, |m, ctx| write_string_list(m, &ctx.args, argv, buf))
        },
    )?;
    l.func_wrap(
        MODULE,
        "args_sizes_get",
        |mut c: Caller<'_, T>, count: u32, size: u32| {
            with_ctx(&mut c, |m, ctx| write_sizes(m, &ctx.args, count, size))
        },
    )?;
    l.func_wrap(
        MODULE,
        "environ_get",
        |mut c: Caller<'_, T>, env: u32, buf: u32| {
            with_ctx(&mut c, |m, ctx| write_string_list(m, &ctx.env, env, buf))
        },
    )?;
    l.func_wrap(
        MODULE,
        "environ_sizes_get",
        |mut c: Caller<'_, T>, count: u32, size: u32| {
            with_ctx(&mut c, |m, ctx| write_sizes(m, &ctx.env, count, size))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_write",
        |mut c: Caller<'_, T>, fd: i32, iovs: u32, n: u32, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_write(m, ctx, fd, iovs, n, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_read",
        |mut c: Caller<'_, T>, fd: i32, iovs: u32, n: u32, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_read(m, ctx, fd, iovs, n, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_pread",
        |mut c: Caller<'_, T>, fd: i32, iovs: u32, n: u32, off: u64, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_pread(m, ctx, fd, iovs, n, off, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_pwrite",
        |mut c: Caller<'_, T>, fd: i32, iovs: u32, n: u32, off: u64, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_pwrite(m, ctx, fd, iovs, n, off, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_seek",
        |mut c: Caller<'_, T>, fd: i32, off: i64, whence: i32, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_seek(m, ctx, fd, off, whence, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_tell",
        |mut c: Caller<'_, T>, fd: i32, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_seek(m, ctx, fd, 0, 1, out))
        },
    )?;
    l.func_wrap(MODULE, "fd_close", |mut c: Caller<'_, T>, fd: i32| {
        with_ctx(&mut c, |_, ctx| ctx.close(fd))
    })?;
    l.func_wrap(
        MODULE,
        "fd_fdstat_get",
        |mut c: Caller<'_, T>, fd: i32, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_fdstat_get(m, ctx, fd, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_fdstat_set_flags",
        |mut c: Caller<'_, T>, fd: i32, flags: i32| {
            with_ctx(&mut c, |_, ctx| match ctx.get(fd)? {
                FdKind::File { append, .. } => {
                    *append = flags & i32::from(FDFLAGS_APPEND) != 0;
                    Ok(())
                }
                _ => Ok(()),
            })
        },
    )?;
    for name in ["fd_sync", "fd_datasync"] {
        l.func_wrap(MODULE, name, |mut c: Caller<'_, T>, fd: i32| {
            with_ctx(&mut c, |_, ctx| match ctx.get(fd)? {
                FdKind::File { file, .. } => Ok(file.sync_all()?),
                _ => Ok(()),
            })
        })?;
    }
    l.func_wrap(
        MODULE,
        "fd_prestat_get",
        |mut c: Caller<'_, T>, fd: i32, out: u32| {
            with_ctx(&mut c, |m, ctx| fd_prestat_get(m, ctx, fd, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |mut c: Caller<'_, T>, fd: i32, path: u32, len: u32| {
            with_ctx(&mut c, |m, ctx| fd_prestat_dir_name(m, ctx, fd, path, len))
        },
    )?;
    Ok(())
}
