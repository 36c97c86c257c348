//! A doubly linked list over slot numbers, stored in two [`Table`]s.
//!
//! Hash maps keep two of them: their entries in insertion order (what
//! iteration follows, so a dump is stable across value updates) and, for the
//! LRU types, their entries from most to least recently used. Links are
//! stored plus one, so the zeroed tables start as all-unlinked.

use super::mem::Table;

#[derive(Debug)]
pub(crate) struct SlotList {
    prev: Table,
    next: Table,
    head: Option<u32>,
    tail: Option<u32>,
}

fn decode(link: u32) -> Option<u32> {
    link.checked_sub(1)
}

fn encode(slot: Option<u32>) -> u32 {
    slot.map_or(0, |s| s + 1)
}

impl SlotList {
    /// An empty list able to hold slots `0..slots`; `None` if the memory
    /// cannot be had.
    pub(crate) fn new(slots: usize) -> Option<SlotList> {
        Some(SlotList { prev: Table::new(slots)?, next: Table::new(slots)?, head: None, tail: None })
    }

    pub(crate) fn first(&self) -> Option<u32> {
        self.head
    }

    pub(crate) fn last(&self) -> Option<u32> {
        self.tail
    }

    pub(crate) fn next(&self, slot: u32) -> Option<u32> {
        decode(self.next.get(slot))
    }

    pub(crate) fn push_back(&mut self, slot: u32) {
        self.link(slot, self.tail, None);
    }

    pub(crate) fn push_front(&mut self, slot: u32) {
        self.link(slot, None, self.head);
    }

    /// Unlinks `slot`, which must be in the list.
    pub(crate) fn remove(&mut self, slot: u32) {
        let (prev, next) = (decode(self.prev.get(slot)), decode(self.next.get(slot)));
        match prev {
            None => self.head = next,
            Some(p) => self.next.set(p, encode(next)),
        }
        match next {
            None => self.tail = prev,
            Some(n) => self.prev.set(n, encode(prev)),
        }
        self.prev.set(slot, 0);
        self.next.set(slot, 0);
    }

    /// Puts `new` (not in the list) where `old` (in the list) was.
    pub(crate) fn replace(&mut self, old: u32, new: u32) {
        let (prev, next) = (decode(self.prev.get(old)), decode(self.next.get(old)));
        self.remove(old);
        self.link(new, prev, next);
    }

    pub(crate) fn move_to_front(&mut self, slot: u32) {
        if self.head != Some(slot) {
            self.remove(slot);
            self.push_front(slot);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.first(), |&s| self.next(s))
    }

    /// Links `slot` between `prev` and `next`, which are adjacent (or ends).
    fn link(&mut self, slot: u32, prev: Option<u32>, next: Option<u32>) {
        self.prev.set(slot, encode(prev));
        self.next.set(slot, encode(next));
        match prev {
            None => self.head = Some(slot),
            Some(p) => self.next.set(p, slot + 1),
        }
        match next {
            None => self.tail = Some(slot),
            Some(n) => self.prev.set(n, slot + 1),
        }
    }
}

/// Slots to hand out: never-used ones in order, then released ones, the
/// last released first (as the kernel's free lists). Sized by a counter,
/// not by the slot count.
#[derive(Debug, Clone)]
pub(crate) struct SlotPool {
    next_fresh: u32,
    end: u32,
    released: Vec<u32>,
}

impl SlotPool {
    /// A pool of slots `start..end`.
    pub(crate) fn new(start: u32, end: u32) -> SlotPool {
        SlotPool { next_fresh: start, end, released: Vec::new() }
    }

    pub(crate) fn take(&mut self) -> Option<u32> {
        self.released.pop().or_else(|| {
            (self.next_fresh < self.end).then(|| {
                self.next_fresh += 1;
                self.next_fresh - 1
            })
        })
    }

    pub(crate) fn release(&mut self, slot: u32) {
        self.released.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_after_edits() {
        let mut l = SlotList::new(6).unwrap();
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

    #[test]
    fn pool_hands_out_fresh_then_released_slots() {
        let mut p = SlotPool::new(2, 5);
        assert_eq!((p.take(), p.take()), (Some(2), Some(3)));
        p.release(2);
        p.release(3);
        assert_eq!((p.take(), p.take(), p.take(), p.take()), (Some(3), Some(2), Some(4), None));
    }
}
