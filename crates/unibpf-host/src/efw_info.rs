//! What can be known of eBPF for Windows without its driver: the version
//! of the ebpfapi.dll this process loads, and the program types and
//! section prefixes its extensions registered in the eBPF store, the
//! registry key ebpfapi reads them from (`Software\eBPF\Providers` under
//! HKCU, else HKLM; program types under `ProgramData\{GUID}\TypeDescriptor`
//! with `Name` and `BpfProgType`; sections under `SectionData\NAME` with
//! `ProgramType` and `AttachType` GUIDs and optional `BpfProgType` and
//! `BpfAttachType`: facts read from eBPF for Windows' `ebpf_windows.h` and
//! its store helper).

use std::ffi::c_void;
use std::os::windows::ffi::{OsStrExt, OsStringExt};

use windows_sys::Win32::Foundation::{ERROR_NO_MORE_ITEMS, ERROR_SUCCESS};
use windows_sys::Win32::Storage::FileSystem::{
    GetFileVersionInfoSizeW, GetFileVersionInfoW, VerQueryValueW, VS_FIXEDFILEINFO,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleFileNameW, GetModuleHandleW};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegEnumKeyExW, RegGetValueW, RegOpenKeyExW, HKEY, HKEY_CURRENT_USER,
    HKEY_LOCAL_MACHINE, KEY_READ, RRF_RT_REG_BINARY, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
};

use crate::facts::{guid_string, EfwProgramType, EfwSection};

/// `VS_FIXEDFILEINFO::dwSignature`.
const VS_FFI_SIGNATURE: u32 = 0xFEEF_04BD;
/// The store's path under HKCU or HKLM.
const STORE_PATH: &str = "Software\\eBPF\\Providers";

fn wide(s: &str) -> Vec<u16> {
    std::ffi::OsStr::new(s)
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

fn from_wide(w: &[u16]) -> String {
    let end = w.iter().position(|&c| c == 0).unwrap_or(w.len());
    std::ffi::OsString::from_wide(&w[..end])
        .to_string_lossy()
        .into_owned()
}

/// The file a module loaded in this process came from.
pub(crate) fn module_path(name: &str) -> Option<String> {
    let name = wide(name);
    // SAFETY: `name` is NUL-terminated; GetModuleHandleW only reads it and
    // returns a handle without taking a reference (the caller holds one).
    let module = unsafe { GetModuleHandleW(name.as_ptr()) };
    if module.is_null() {
        return None;
    }
    let mut buf = vec![0u16; 32 * 1024];
    // SAFETY: `buf` holds `buf.len()` u16s, the size passed; the call
    // writes at most that many, NUL included.
    let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) };
    (n > 0 && (n as usize) < buf.len()).then(|| from_wide(&buf[..n as usize]))
}

/// `MAJOR.MINOR.BUILD.REVISION` of a file's version resource.
pub(crate) fn file_version(path: &str) -> Option<String> {
    let path = wide(path);
    let mut ignored = 0u32;
    // SAFETY: `path` is NUL-terminated; the call writes one u32.
    let size = unsafe { GetFileVersionInfoSizeW(path.as_ptr(), &mut ignored) };
    if size == 0 {
        return None;
    }
    let mut data = vec![0u8; size as usize];
    // SAFETY: `data` holds `size` bytes, the length passed.
    let ok = unsafe { GetFileVersionInfoW(path.as_ptr(), 0, size, data.as_mut_ptr().cast()) };
    if ok == 0 {
        return None;
    }
    let root = wide("\\");
    let mut info: *mut c_void = std::ptr::null_mut();
    let mut len = 0u32;
    // SAFETY: `data` is the block GetFileVersionInfoW filled; the call
    // points `info` into it (valid while `data` lives) and sets `len`.
    let ok = unsafe { VerQueryValueW(data.as_ptr().cast(), root.as_ptr(), &mut info, &mut len) };
    if ok == 0 || info.is_null() || (len as usize) < std::mem::size_of::<VS_FIXEDFILEINFO>() {
        return None;
    }
    // SAFETY: `info` points at `len` >= size_of::<VS_FIXEDFILEINFO>() bytes
    // inside `data`; read_unaligned copies them out whatever their
    // alignment.
    let fixed = unsafe { std::ptr::read_unaligned(info.cast::<VS_FIXEDFILEINFO>()) };
    if fixed.dwSignature != VS_FFI_SIGNATURE {
        return None;
    }
    let (ms, ls) = (fixed.dwFileVersionMS, fixed.dwFileVersionLS);
    Some(format!(
        "{}.{}.{}.{}",
        ms >> 16,
        ms & 0xffff,
        ls >> 16,
        ls & 0xffff
    ))
}

/// An open registry key, closed when dropped.
struct Key(HKEY);

impl Key {
    fn open(parent: HKEY, path: &str) -> Option<Key> {
        let path = wide(path);
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; on success `key` is a key
        // this process owns, closed by Drop.
        let status = unsafe { RegOpenKeyExW(parent, path.as_ptr(), 0, KEY_READ, &mut key) };
        (status == ERROR_SUCCESS).then_some(Key(key))
    }

    /// The names of its subkeys.
    fn subkeys(&self) -> Vec<String> {
        let mut names = Vec::new();
        for index in 0.. {
            // Key names are at most 255 characters.
            let mut name = [0u16; 256];
            let mut len = name.len() as u32;
            // SAFETY: `name` holds `len` u16s; the call writes at most that
            // many and sets `len`; the other out-pointers may be null.
            let status = unsafe {
                RegEnumKeyExW(
                    self.0,
                    index,
                    name.as_mut_ptr(),
                    &mut len,
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            match status {
                ERROR_SUCCESS => names.push(from_wide(&name[..len as usize])),
                ERROR_NO_MORE_ITEMS => break,
                // A name too long or a key gone meanwhile: skip it.
                _ => continue,
            }
        }
        names
    }

    /// Value `value` of subkey `sub`, of the type `flags` allows, as bytes.
    fn raw(&self, sub: &str, value: &str, flags: u32) -> Option<Vec<u8>> {
        let (sub, value) = (wide(sub), wide(value));
        let mut data = vec![0u8; 4096];
        let mut len = data.len() as u32;
        // SAFETY: `sub` and `value` are NUL-terminated; `data` holds `len`
        // bytes, the size passed, and the call sets `len` to what it wrote.
        let status = unsafe {
            RegGetValueW(
                self.0,
                sub.as_ptr(),
                value.as_ptr(),
                flags,
                std::ptr::null_mut(),
                data.as_mut_ptr().cast(),
                &mut len,
            )
        };
        (status == ERROR_SUCCESS).then(|| {
            data.truncate(len as usize);
            data
        })
    }

    fn string(&self, sub: &str, value: &str) -> Option<String> {
        let bytes = self.raw(sub, value, RRF_RT_REG_SZ)?;
        let wide: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(from_wide(&wide))
    }

    fn dword(&self, sub: &str, value: &str) -> Option<u32> {
        let b = self.raw(sub, value, RRF_RT_REG_DWORD)?;
        Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
    }

    fn guid(&self, sub: &str, value: &str) -> Option<String> {
        let b = self.raw(sub, value, RRF_RT_REG_BINARY)?;
        Some(guid_string(b.get(..16)?.try_into().ok()?))
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by Key::open and is closed once.
        unsafe { RegCloseKey(self.0) };
    }
}

/// The eBPF store, as ebpfapi finds it.
pub(crate) struct Store {
    key: Key,
    pub(crate) name: &'static str,
}

impl Store {
    pub(crate) fn open() -> Option<Store> {
        [
            (HKEY_CURRENT_USER, "HKCU\\Software\\eBPF\\Providers"),
            (HKEY_LOCAL_MACHINE, "HKLM\\Software\\eBPF\\Providers"),
        ]
        .into_iter()
        .find_map(|(root, name)| {
            Some(Store {
                key: Key::open(root, STORE_PATH)?,
                name,
            })
        })
    }

    pub(crate) fn program_types(&self) -> Vec<EfwProgramType> {
        let Some(data) = Key::open(self.key.0, "ProgramData") else {
            return Vec::new();
        };
        data.subkeys()
            .into_iter()
            .map(|guid| EfwProgramType {
                name: data
                    .string(&format!("{guid}\\TypeDescriptor"), "Name")
                    .unwrap_or_default(),
                bpf_prog_type: data.dword(&format!("{guid}\\TypeDescriptor"), "BpfProgType"),
                guid: guid.to_ascii_lowercase(),
            })
            .collect()
    }

    pub(crate) fn sections(&self, types: &[EfwProgramType]) -> Vec<EfwSection> {
        let Some(data) = Key::open(self.key.0, "SectionData") else {
            return Vec::new();
        };
        data.subkeys()
            .into_iter()
            .map(|name| {
                let program_type = data.guid(&name, "ProgramType").unwrap_or_default();
                EfwSection {
                    program_type_name: types
                        .iter()
                        .find(|t| t.guid == program_type)
                        .map(|t| t.name.clone()),
                    attach_type: data.guid(&name, "AttachType").unwrap_or_default(),
                    bpf_prog_type: data.dword(&name, "BpfProgType"),
                    bpf_attach_type: data.dword(&name, "BpfAttachType"),
                    program_type,
                    name,
                }
            })
            .collect()
    }
}
