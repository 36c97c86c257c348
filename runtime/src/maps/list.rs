//! A doubly linked list over slot numbers, stored in two vectors.
//!
//! Hash maps keep two of them: their entries in insertion order (what
//! iteration follows, so a dump is stable across value updates) and, for the
//! LRU types, their entries from most to least recently used.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct SlotList {
    prev: Vec<u32>,
    next: Vec<u32>,
    head: u32,
    tail: u32,
}

impl SlotList {
    /// An empty list able to hold slots `0..slots`.
    pub(crate) fn new(slots: usize) -> SlotList {
        SlotList { prev: vec![NIL; slots], next: vec![NIL; slots], head: NIL, tail: NIL }
    }

    pub(crate) fn first(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    pub(crate) fn last(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    pub(crate) fn next(&self, slot: u32) -> Option<u32> {
        let next = self.next[slot as usize];
        (next != NIL).then_some(next)
    }

    pub(crate) fn push_back(&mut self, slot: u32) {
        self.link(slot, self.tail, NIL);
    }

    pub(crate) fn push_front(&mut self, slot: u32) {
        self.link(slot, NIL, self.head);
    }

    /// Unlinks `slot`, which must be in the list.
    pub(crate) fn remove(&mut self, slot: u32) {
        let (prev, next) = (self.prev[slot as usize], self.next[slot as usize]);
        match prev {
            NIL => self.head = next,
            p => self.next[p as usize] = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.prev[n as usize] = prev,
        }
        self.prev[slot as usize] = NIL;
        self.next[slot as usize] = NIL;
    }

    /// Puts `new` (not in the list) where `old` (in the list) was.
    pub(crate) fn replace(&mut self, old: u32, new: u32) {
        let (prev, next) = (self.prev[old as usize], self.next[old as usize]);
        self.remove(old);
        self.link(new, prev, next);
    }

    pub(crate) fn move_to_front(&mut self, slot: u32) {
        if self.head != slot {
            self.remove(slot);
            self.push_front(slot);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.first(), |&s| self.next(s))
    }

    /// Links `slot` between `prev` and `next`, which are adjacent (or NIL).
    fn link(&mut self, slot: u32, prev: u32, next: u32) {
        self.prev[slot as usize] = prev;
        self.next[slot as usize] = next;
        match prev {
            NIL => self.head = slot,
            p => self.next[p as usize] = slot,
        }
        match next {
            NIL => self.tail = slot,
            n => self.prev[n as usize] = slot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_after_edits() {
        let mut l = SlotList::new(6);
        for s in [3, 1, 4] {
            l.push_back(s);
        }
        l.push_front(0);
        assert_eq!(l.iter().collect::<Vec<_>>(), [0, 3, 1, 4]);
        l.replace(1, 5);
        assert_eq!(l.iter().collect::<Vec<_>>(), [0, 3, 5, 4]);
        l.move_to_front(4);
        assert_eq!(l.iter().collect::<Vec<_>>(), [4, 0, 3, 5]);
        l.remove(4);
        l.remove(5);
        assert_eq!((l.first(), l.last()), (Some(0), Some(3)));
        l.remove(0);
        l.remove(3);
        assert_eq!((l.first(), l.last()), (None, None));
    }
}
