//! The WASI calls on paths inside granted directories, wired once: each
//! one's meaning is the same everywhere, and the OS's module (`fs` on
//! Unix, `fs_windows` on Windows) does the host side under the same names.

use unibpf_hostcall::GuestMemoryMut;
use wasmi::{Caller, Linker};

use crate::errno::WasiResult;
use crate::fs as os;
use crate::io::FILETYPE_CHARACTER_DEVICE;
use crate::{with_ctx, WasiView, MODULE};

/// One directory entry for [`write_dirents`]: its inode number (None: its
/// place in the listing, counted from 1, where the host has none), name
/// and WASI file type.
pub(crate) type Dirent = (Option<u64>, Vec<u8>, u8);

/// Writes the entries from place `cookie` on as WASI dirents to the
/// guest's `buf`, at most `len` bytes (a full buffer tells the guest to
/// call again from its last cookie), and their byte count at `used`. An
/// error in an entry before `cookie` is not looked at.
pub(crate) fn write_dirents(
    mem: &mut [u8],
    (buf, len, used): (u32, u32, u32),
    cookie: u64,
    entries: impl Iterator<Item = WasiResult<Dirent>>,
) -> WasiResult<()> {
    let mut out = Vec::with_capacity(len as usize);
    for (i, entry) in entries
        .enumerate()
        .skip(usize::try_from(cookie).unwrap_or(usize::MAX))
    {
        if out.len() >= len as usize {
            break;
        }
        let (ino, name, ty) = entry?;
        let next = i as u64 + 1;
        out.extend_from_slice(&next.to_le_bytes());
        out.extend_from_slice(&ino.unwrap_or(next).to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&[ty, 0, 0, 0]);
        out.extend_from_slice(&name);
    }
    out.truncate(len as usize);
    let mut m = GuestMemoryMut::new(mem);
    m.write(u64::from(buf), &out)?;
    m.write_u32(u64::from(used), out.len() as u32)?;
    Ok(())
}

/// The filestat of stdio: a character device with nothing else to say.
pub(crate) fn write_stdio_filestat(mem: &mut [u8], out: u32) -> WasiResult<()> {
    let mut m = GuestMemoryMut::new(mem);
    m.slice_mut(u64::from(out), 64)?.fill(0);
    m.write_u8(u64::from(out) + 16, FILETYPE_CHARACTER_DEVICE)?;
    Ok(())
}

pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> Result<(), wasmi::Error> {
    l.func_wrap(
        MODULE,
        "path_open",
        |mut c: Caller<'_, T>,
         dirfd: i32,
         lookup: u32,
         p: u32,
         plen: u32,
         oflags: u32,
         rights: u64,
         _inh: u64,
         fdflags: u32,
         out: u32| {
            with_ctx(&mut c, |m, ctx| {
                os::path_open(
                    m,
                    ctx,
                    dirfd,
                    lookup,
                    (p, plen),
                    oflags as u16,
                    rights,
                    fdflags as u16,
                    out,
                )
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "path_filestat_get",
        |mut c: Caller<'_, T>, dirfd: i32, lookup: u32, p: u32, plen: u32, out: u32| {
            with_ctx(&mut c, |m, ctx| {
                os::path_filestat_get(m, ctx, dirfd, lookup, (p, plen), out)
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_filestat_get",
        |mut c: Caller<'_, T>, fd: i32, out: u32| {
            with_ctx(&mut c, |m, ctx| os::fd_filestat_get(m, ctx, fd, out))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_readdir",
        |mut c: Caller<'_, T>, fd: i32, buf: u32, len: u32, cookie: u64, used: u32| {
            with_ctx(&mut c, |m, ctx| {
                os::fd_readdir(m, ctx, fd, buf, len, cookie, used)
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "path_create_directory",
        |mut c: Caller<'_, T>, dirfd: i32, p: u32, plen: u32| {
            with_ctx(&mut c, |m, ctx| {
                os::create_directory(m, ctx, dirfd, (p, plen))
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "path_remove_directory",
        |mut c: Caller<'_, T>, dirfd: i32, p: u32, plen: u32| {
            with_ctx(&mut c, |m, ctx| {
                os::remove_directory(m, ctx, dirfd, (p, plen))
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "path_unlink_file",
        |mut c: Caller<'_, T>, dirfd: i32, p: u32, plen: u32| {
            with_ctx(&mut c, |m, ctx| os::unlink_file(m, ctx, dirfd, (p, plen)))
        },
    )?;
    l.func_wrap(
        MODULE,
        "path_rename",
        |mut c: Caller<'_, T>, fd: i32, p: u32, plen: u32, new_fd: i32, np: u32, nplen: u32| {
            with_ctx(&mut c, |m, ctx| {
                os::rename(m, ctx, (fd, (p, plen)), (new_fd, (np, nplen)))
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "path_readlink",
        |mut c: Caller<'_, T>, dirfd: i32, p: u32, plen: u32, buf: u32, len: u32, used: u32| {
            with_ctx(&mut c, |m, ctx| {
                let target = os::readlink(m, ctx, dirfd, (p, plen))?;
                let n = target.len().min(len as usize);
                let mut mm = GuestMemoryMut::new(m);
                mm.write(u64::from(buf), &target[..n])?;
                mm.write_u32(u64::from(used), n as u32)?;
                Ok(())
            })
        },
    )?;
    Ok(())
}
