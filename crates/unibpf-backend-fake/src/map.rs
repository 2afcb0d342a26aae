//! In-memory maps with the kernel's element semantics for hash-like and
//! array-like maps: the errnos a guest sees are the ones the kernel gives.

use std::cell::RefCell;
use std::collections::BTreeMap;

use unibpf_backend::{Errno, MapInfo, MapKind, MapOps};

const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

pub struct FakeMap {
    info: MapInfo,
    entries: RefCell<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl FakeMap {
    pub fn new(info: MapInfo) -> Self {
        Self {
            info,
            entries: RefCell::new(BTreeMap::new()),
        }
    }

    pub fn info(&self) -> MapInfo {
        self.info
    }

    fn is_array(&self) -> bool {
        matches!(
            self.info.kind,
            MapKind::Array | MapKind::PerCpuArray | MapKind::ProgArray
        )
    }

    /// An array's index, checked against its size.
    fn index(&self, key: &[u8]) -> Result<u32, Errno> {
        let bytes: [u8; 4] = key.try_into().map_err(|_| Errno::EINVAL)?;
        let index = u32::from_le_bytes(bytes);
        if index >= self.info.max_entries {
            return Err(Errno::ENOENT);
        }
        Ok(index)
    }

    fn check_sizes(&self, key: &[u8], value: Option<usize>) -> Result<(), Errno> {
        if key.len() != self.info.key_size as usize
            || value.is_some_and(|v| v != self.info.value_buffer_size as usize)
        {
            // The ABI layer checks sizes before calling: a mismatch here is
            // a bug in it, which the tests must see.
            return Err(Errno::EFAULT);
        }
        if self.info.kind.is_event_source() {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

impl MapOps for FakeMap {
    fn lookup(&self, key: &[u8], value: &mut [u8], _flags: u64) -> Result<(), Errno> {
        self.check_sizes(key, Some(value.len()))?;
        if self.is_array() {
            self.index(key)?;
        }
        match self.entries.borrow().get(key) {
            Some(v) => value.copy_from_slice(v),
            None if self.is_array() => value.fill(0),
            None => return Err(Errno::ENOENT),
        }
        Ok(())
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        self.check_sizes(key, Some(value.len()))?;
        if flags > BPF_EXIST {
            return Err(Errno::EINVAL);
        }
        let mut entries = self.entries.borrow_mut();
        if self.is_array() {
            self.index(key).map_err(|_| Errno::E2BIG)?;
            if flags == BPF_NOEXIST {
                return Err(Errno::EEXIST);
            }
        } else {
            let present = entries.contains_key(key);
            if flags == BPF_NOEXIST && present {
                return Err(Errno::EEXIST);
            }
            if flags == BPF_EXIST && !present {
                return Err(Errno::ENOENT);
            }
            if !present && entries.len() >= self.info.max_entries as usize {
                return Err(Errno::E2BIG);
            }
        }
        entries.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &[u8], _flags: u64) -> Result<(), Errno> {
        self.check_sizes(key, None)?;
        if self.is_array() {
            return Err(Errno::EINVAL);
        }
        match self.entries.borrow_mut().remove(key) {
            Some(_) => Ok(()),
            None => Err(Errno::ENOENT),
        }
    }

    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        if let Some(k) = key {
            self.check_sizes(k, None)?;
        }
        if next.len() != self.info.key_size as usize {
            return Err(Errno::EFAULT);
        }
        if self.is_array() {
            let following = match key.map(|k| self.index(k)) {
                None | Some(Err(_)) => 0,
                Some(Ok(i)) => i + 1,
            };
            if following >= self.info.max_entries {
                return Err(Errno::ENOENT);
            }
            next.copy_from_slice(&following.to_le_bytes());
            return Ok(());
        }
        let entries = self.entries.borrow();
        // Like the kernel's hash maps: an unknown key restarts at the first.
        let found = match key {
            Some(k) if entries.contains_key(k) => entries
                .range::<[u8], _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                .next(),
            _ => entries.iter().next(),
        };
        let (k, _) = found.ok_or(Errno::ENOENT)?;
        next.copy_from_slice(k);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> FakeMap {
        FakeMap::new(MapInfo::new(MapKind::Hash, 4, 8, 2, 1))
    }

    #[test]
    fn hash_maps_give_the_kernels_errnos() {
        let m = hash();
        let k = |n: u32| n.to_le_bytes();
        let mut v = [0u8; 8];
        assert_eq!(m.lookup(&k(1), &mut v, 0), Err(Errno::ENOENT));
        assert_eq!(m.update(&k(1), &[1; 8], BPF_EXIST), Err(Errno::ENOENT));
        m.update(&k(1), &[1; 8], BPF_NOEXIST).unwrap();
        assert_eq!(m.update(&k(1), &[2; 8], BPF_NOEXIST), Err(Errno::EEXIST));
        m.update(&k(2), &[2; 8], 0).unwrap();
        assert_eq!(m.update(&k(3), &[3; 8], 0), Err(Errno::E2BIG));
        m.lookup(&k(2), &mut v, 0).unwrap();
        assert_eq!(v, [2; 8]);
        let mut next = [0u8; 4];
        m.next_key(None, &mut next).unwrap();
        assert_eq!(next, k(1));
        m.next_key(Some(&k(1)), &mut next).unwrap();
        assert_eq!(next, k(2));
        assert_eq!(m.next_key(Some(&k(2)), &mut next), Err(Errno::ENOENT));
        m.delete(&k(1), 0).unwrap();
        assert_eq!(m.delete(&k(1), 0), Err(Errno::ENOENT));
    }

    #[test]
    fn arrays_always_hold_every_index() {
        let m = FakeMap::new(MapInfo::new(MapKind::Array, 4, 8, 2, 1));
        let mut v = [9u8; 8];
        m.lookup(&1u32.to_le_bytes(), &mut v, 0).unwrap();
        assert_eq!(v, [0; 8]);
        assert_eq!(m.update(&5u32.to_le_bytes(), &[1; 8], 0), Err(Errno::E2BIG));
        assert_eq!(m.delete(&0u32.to_le_bytes(), 0), Err(Errno::EINVAL));
    }
}
