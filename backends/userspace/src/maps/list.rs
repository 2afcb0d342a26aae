//! A doubly linked list threaded through slot numbers: O(1) insert,
//! unlink and move-to-front without allocating, for a hash map's
//! iteration order and LRU order.

/// No slot: the end of the list.
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Links {
    prev: Box<[u32]>,
    next: Box<[u32]>,
    head: u32,
    tail: u32,
}

impl Links {
    pub fn new(slots: u32) -> Self {
        Self {
            prev: vec![NIL; slots as usize].into_boxed_slice(),
            next: vec![NIL; slots as usize].into_boxed_slice(),
            head: NIL,
            tail: NIL,
        }
    }

    pub fn head(&self) -> u32 {
        self.head
    }

    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// The slot after `slot` (NIL at the end).
    pub fn next(&self, slot: u32) -> u32 {
        self.next[slot as usize]
    }

    pub fn push_back(&mut self, slot: u32) {
        let s = slot as usize;
        self.prev[s] = self.tail;
        self.next[s] = NIL;
        match self.tail {
            NIL => self.head = slot,
            t => self.next[t as usize] = slot,
        }
        self.tail = slot;
    }

    pub fn push_front(&mut self, slot: u32) {
        let s = slot as usize;
        self.prev[s] = NIL;
        self.next[s] = self.head;
        match self.head {
            NIL => self.tail = slot,
            h => self.prev[h as usize] = slot,
        }
        self.head = slot;
    }

    /// Takes `slot` out; it must be in the list.
    pub fn unlink(&mut self, slot: u32) {
        let s = slot as usize;
        let (p, n) = (self.prev[s], self.next[s]);
        match p {
            NIL => self.head = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NIL => self.tail = p,
            n => self.prev[n as usize] = p,
        }
        self.prev[s] = NIL;
        self.next[s] = NIL;
    }

    pub fn move_to_front(&mut self, slot: u32) {
        if self.head != slot {
            self.unlink(slot);
            self.push_front(slot);
        }
    }
}
