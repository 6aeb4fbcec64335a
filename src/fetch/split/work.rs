//! The bytes of a split download and who fetches which: ranges no
//! connection has, ranges being fetched (each with the next byte to
//! receive), and complete ranges. Pure bookkeeping, no I/O: the connections
//! (`split/mod.rs`) hold it behind a mutex and ask it for work, for where
//! to write what they received, and to record what is on disk.
//!
//! The rules it keeps: no byte is handed to two writers ([`Work::reserve`]
//! gives out each byte once), a range given up goes back for the others
//! ([`Work::release`]), and a connection whose work runs out takes over the
//! second half of the largest range left, when both halves are worth a
//! connection ([`Work::take`]).

/// One range being fetched.
#[derive(Debug)]
struct Segment {
    id: u64,
    start: u64,
    /// The next byte to hand out (bytes before it are written or being
    /// written).
    next: u64,
    end: u64,
}

#[derive(Debug, Default)]
pub(super) struct Work {
    /// Ranges no connection has: sorted, apart, end exclusive.
    todo: Vec<(u64, u64)>,
    /// Ranges being fetched.
    active: Vec<Segment>,
    /// Complete ranges: sorted, apart, end exclusive.
    done: Vec<(u64, u64)>,
    /// The range reading the first answer, whose body runs on to the end
    /// of the file: at its range's end it goes on into the next range if
    /// nobody has taken that (no new request, no dropped connection).
    first: Option<u64>,
    next_id: u64,
}

impl Work {
    /// A file of `size` bytes of which `done` is on disk, the rest cut into
    /// at most `n` ranges of about equal length, none under `min` (unless it
    /// is all there is).
    pub(super) fn new(size: u64, done: Vec<(u64, u64)>, n: u32, min: u64) -> Work {
        Work {
            todo: cut(size, &done, n, min),
            active: Vec::new(),
            done,
            first: None,
            next_id: 0,
        }
    }

    pub(super) fn done(&self) -> &[(u64, u64)] {
        &self.done
    }

    /// Bytes on disk.
    pub(super) fn received(&self) -> u64 {
        self.done.iter().map(|(a, b)| b - a).sum()
    }

    /// Starts fetching the range that begins at `from` with the first
    /// answer, whose body runs on to the end of the file; `None` when no
    /// range begins there.
    pub(super) fn start_at(&mut self, from: u64) -> Option<(u64, u64, u64)> {
        let i = self.todo.iter().position(|r| r.0 == from)?;
        let (start, end) = self.todo.remove(i);
        let range = self.start(start, end);
        self.first = Some(range.0);
        Some(range)
    }

    /// The next range for a connection, `(id, start, end)`: one nobody has,
    /// or the second half of the largest range being fetched when both
    /// halves are at least `min`.
    pub(super) fn take(&mut self, min: u64) -> Option<(u64, u64, u64)> {
        let (start, end) = if self.todo.is_empty() {
            let victim = self
                .active
                .iter_mut()
                .filter(|s| s.end - s.next >= worth_splitting(min))
                .max_by_key(|s| s.end - s.next)?;
            let mid = victim.next + (victim.end - victim.next) / 2;
            let end = std::mem::replace(&mut victim.end, mid);
            (mid, end)
        } else {
            self.todo.remove(0)
        };
        Some(self.start(start, end))
    }

    fn start(&mut self, start: u64, end: u64) -> (u64, u64, u64) {
        let id = self.next_id;
        self.next_id += 1;
        self.active.push(Segment {
            id,
            start,
            next: start,
            end,
        });
        (id, start, end)
    }

    /// Whether a connection would find work.
    pub(super) fn has_work(&self, min: u64) -> bool {
        !self.todo.is_empty()
            || self
                .active
                .iter()
                .any(|s| s.end - s.next >= worth_splitting(min))
    }

    /// Up to `want` bytes of range `id` to write, and where: `None` when the
    /// range is done or was taken over, or `id` is not being fetched.
    pub(super) fn reserve(&mut self, id: u64, want: usize) -> Option<(u64, usize)> {
        let i = self.active.iter().position(|s| s.id == id)?;
        let seg = &mut self.active[i];
        if seg.next == seg.end
            && self.first == Some(id)
            && self.todo.first().is_some_and(|r| r.0 == seg.end)
        {
            seg.end = self.todo.remove(0).1;
        }
        let room = seg.end - seg.next;
        if room == 0 {
            return None;
        }
        let n = (want as u64).min(room);
        let at = seg.next;
        seg.next += n;
        Some((at, n as usize))
    }

    /// Bytes range `id` has yet to receive (0 once it is gone).
    pub(super) fn remaining(&self, id: u64) -> u64 {
        self.active
            .iter()
            .find(|s| s.id == id)
            .map_or(0, |s| s.end - s.next)
    }

    /// Bytes `start..end` are on disk.
    pub(super) fn written(&mut self, start: u64, end: u64) {
        add_range(&mut self.done, start, end);
    }

    /// Range `id` ends: what it did not receive goes back to the others.
    pub(super) fn release(&mut self, id: u64) {
        if let Some(i) = self.active.iter().position(|s| s.id == id) {
            let seg = self.active.remove(i);
            if seg.next < seg.end {
                let at = self.todo.partition_point(|r| r.0 < seg.next);
                self.todo.insert(at, (seg.next, seg.end));
            }
        }
    }

    /// The server ignores ranges: the first answer, if it is still being
    /// read, goes on to the end of the file and nothing else is left to
    /// take.
    pub(super) fn read_on(&mut self, size: u64) {
        let first = self.first;
        if let Some(seg) = self.active.iter_mut().find(|s| Some(s.id) == first) {
            seg.end = size;
            self.todo.clear();
        }
    }

    /// Ranges being fetched that have received bytes (connections
    /// delivering).
    pub(super) fn flowing(&self) -> u32 {
        self.active.iter().filter(|s| s.next > s.start).count() as u32
    }

    pub(super) fn is_idle(&self) -> bool {
        self.active.is_empty()
    }

    pub(super) fn complete(&self, size: u64) -> bool {
        self.done[..] == [(0, size)]
    }
}

/// The bytes a range must have left for a connection to take half of it:
/// twice `min`, saturating (with `min` beyond `u64::MAX / 2` no range is
/// ever cut, rather than every range at once).
fn worth_splitting(min: u64) -> u64 {
    min.saturating_mul(2)
}

/// Adds `start..end` to sorted, apart ranges, merging neighbours.
fn add_range(done: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    if start >= end {
        return;
    }
    let i = done.partition_point(|r| r.1 < start);
    let mut j = i;
    let (mut a, mut b) = (start, end);
    while j < done.len() && done[j].0 <= end {
        a = a.min(done[j].0);
        b = b.max(done[j].1);
        j += 1;
    }
    done.splice(i..j, [(a, b)]);
}

/// The missing bytes (`0..size` minus `done`) cut into at most `n` pieces
/// of about equal length, none under `min` (unless it is all there is).
fn cut(size: u64, done: &[(u64, u64)], n: u32, min: u64) -> Vec<(u64, u64)> {
    let mut missing = Vec::new();
    let mut at = 0;
    for &(a, b) in done {
        if a > at {
            missing.push((at, a));
        }
        at = b;
    }
    if at < size {
        missing.push((at, size));
    }
    let total: u64 = missing.iter().map(|(a, b)| b - a).sum();
    let pieces = (total / min.max(1)).clamp(1, n.max(1) as u64);
    let step = total.div_ceil(pieces).max(1);
    let mut out = Vec::new();
    for (a, b) in missing {
        let mut s = a;
        while s < b {
            // A remainder under `min` joins the piece before it.
            let e = if b - s < step.saturating_add(min) {
                b
            } else {
                s + step
            };
            out.push((s, e));
            s = e;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_merge_as_they_complete() {
        let mut done = Vec::new();
        add_range(&mut done, 10, 20);
        add_range(&mut done, 30, 40);
        add_range(&mut done, 0, 5);
        assert_eq!(done, [(0, 5), (10, 20), (30, 40)]);
        add_range(&mut done, 20, 30);
        assert_eq!(done, [(0, 5), (10, 40)]);
        add_range(&mut done, 5, 10);
        assert_eq!(done, [(0, 40)]);
        add_range(&mut done, 3, 3);
        assert_eq!(done, [(0, 40)]);
    }

    #[test]
    fn missing_bytes_are_cut_into_pieces_no_smaller_than_the_minimum() {
        assert_eq!(
            cut(100, &[], 4, 10),
            [(0, 25), (25, 50), (50, 75), (75, 100)]
        );
        assert_eq!(cut(100, &[], 4, 40), [(0, 50), (50, 100)]);
        assert_eq!(cut(100, &[], 8, 200), [(0, 100)]);
        // Only what is missing, the complete ranges left alone.
        assert_eq!(cut(100, &[(0, 40), (60, 80)], 2, 5), [(40, 60), (80, 100)]);
        let pieces = cut(1000, &[(0, 100)], 3, 10);
        assert_eq!(pieces.first().unwrap().0, 100);
        assert_eq!(pieces.last().unwrap().1, 1000);
        assert!(pieces.windows(2).all(|w| w[0].1 == w[1].0));
    }

    #[test]
    fn an_idle_connection_takes_over_half_of_the_largest_range() {
        let mut work = Work::new(100, Vec::new(), 1, 10);
        let (a, ..) = work.start_at(0).unwrap();
        assert_eq!(work.reserve(a, 30), Some((0, 30)));
        // 70 left on `a`: the thief gets 65..100, `a` stops at 65.
        let (b, start, end) = work.take(10).unwrap();
        assert_eq!((start, end), (65, 100));
        assert_eq!(work.reserve(a, 100), Some((30, 35)));
        assert_eq!(work.reserve(a, 1), None, "a's range ends where b's begins");
        assert_eq!(work.reserve(b, 100), Some((65, 35)));
        // 0 left anywhere: nothing to take, even with bytes in flight.
        assert_eq!(work.take(10), None);
        // Less than twice the minimum is not worth a connection.
        let mut small = Work::new(100, Vec::new(), 1, 10);
        let (c, ..) = small.start_at(0).unwrap();
        small.reserve(c, 81);
        assert!(!small.has_work(10) && small.take(10).is_none());
    }

    #[test]
    fn huge_sizes_and_minimums_neither_wrap_nor_panic() {
        // Twice this minimum is past u64::MAX: no range is worth cutting
        // (it used to wrap to 0, and every range was cut again and again).
        let min = 1 << 63;
        let mut work = Work::new(1 << 20, Vec::new(), 4, min);
        let (a, start, end) = work.start_at(0).unwrap();
        assert_eq!((start, end), (0, 1 << 20));
        assert_eq!(work.reserve(a, 1000), Some((0, 1000)));
        assert!(!work.has_work(min));
        assert_eq!(work.take(min), None);
        // The largest file and minimum: whole pieces, end to end.
        for (size, min) in [(u64::MAX, 1 << 62), (u64::MAX, u64::MAX), (u64::MAX, 1)] {
            let pieces = cut(size, &[], 16, min);
            assert_eq!(pieces.first().unwrap().0, 0);
            assert_eq!(pieces.last().unwrap().1, size);
            assert!(pieces.windows(2).all(|w| w[0].1 == w[1].0));
            assert!(pieces.len() <= 16);
        }
    }

    #[test]
    fn the_first_answer_reads_on_into_a_range_nobody_took() {
        let mut work = Work::new(100, Vec::new(), 4, 10);
        let (a, ..) = work.start_at(0).unwrap();
        assert_eq!(work.reserve(a, 25), Some((0, 25)));
        // 25..50 is free: the first answer goes on reading, no request.
        assert_eq!(work.reserve(a, 25), Some((25, 25)));
        let (b, start, _) = work.take(10).unwrap();
        assert_eq!(start, 50);
        assert_eq!(work.reserve(a, 1), None, "50.. is b's now");
        // A range request's answer ends where it was asked to.
        assert_eq!(work.reserve(b, 25), Some((50, 25)));
        assert_eq!(work.reserve(b, 1), None);
    }

    #[test]
    fn a_released_range_goes_back_from_its_next_byte() {
        let mut work = Work::new(100, vec![(0, 10)], 2, 10);
        let (a, start, end) = work.start_at(10).unwrap();
        assert_eq!((start, end), (10, 55));
        work.reserve(a, 20);
        work.written(10, 30);
        work.release(a);
        assert_eq!(work.take(10).map(|(_, s, e)| (s, e)), Some((30, 55)));
        assert_eq!(work.done(), [(0, 30)]);
        work.read_on(100);
        assert!(!work.complete(100));
    }

    /// One step of a simulated connection.
    #[derive(Debug, Clone)]
    enum Op {
        /// Connection `c` takes work if it has none.
        Take(usize),
        /// Connection `c` receives up to `n` bytes and writes them (or, if
        /// `fail`, gives its range up without writing the last reservation).
        Receive(usize, u64, bool),
        /// Connection `c` gives its range up.
        Release(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize).prop_map(Op::Take),
            (0..4usize, 1..400u64, prop::bool::weighted(0.1))
                .prop_map(|(c, n, f)| Op::Receive(c, n, f)),
            (0..4usize).prop_map(Op::Release),
        ]
    }

    /// [`Work::reserve`], checking that no byte is handed out twice.
    fn reserve(
        work: &mut Work,
        owned: &mut [u8],
        id: u64,
        want: u64,
    ) -> Result<Option<(u64, usize)>, TestCaseError> {
        let Some((at, k)) = work.reserve(id, want as usize) else {
            return Ok(None);
        };
        for byte in &mut owned[at as usize..at as usize + k] {
            prop_assert_eq!(*byte, 0, "byte {} handed out twice", at);
            *byte = 1;
        }
        Ok(Some((at, k)))
    }

    proptest! {
        /// Whatever the connections do, no byte is reserved twice, only
        /// reserved bytes become done, and once they keep working every
        /// byte of the file is done.
        #[test]
        fn every_byte_is_fetched_once_and_the_file_completes(
            size in 1..5_000u64,
            done_at in prop::option::of((0..5_000u64, 1..500u64)),
            n in 1..6u32,
            min in 1..300u64,
            ops in prop::collection::vec(op(), 0..200),
        ) {
            let done: Vec<(u64, u64)> = done_at
                .map(|(a, len)| (a.min(size - 1), (a + len).min(size)))
                .filter(|(a, b)| a < b)
                .into_iter()
                .collect();
            let mut owned = vec![0u8; size as usize];
            for &(a, b) in &done {
                owned[a as usize..b as usize].fill(1);
            }
            let mut work = Work::new(size, done, n, min);
            let mut conns: [Option<u64>; 4] = [None; 4];
            // The first connection reads the first answer.
            if let Some(&(from, _)) = work.todo.first() {
                conns[0] = work.start_at(from).map(|(id, ..)| id);
            }
            for op in ops {
                match op {
                    Op::Take(c) if conns[c].is_none() => {
                        conns[c] = work.take(min).map(|(id, ..)| id);
                    }
                    Op::Take(_) => {}
                    Op::Receive(c, want, fail) => {
                        let Some(id) = conns[c] else { continue };
                        match reserve(&mut work, &mut owned, id, want)? {
                            Some((at, k)) => {
                                if fail {
                                    // Reserved but never written: a hole
                                    // only a later run would fill.
                                    for byte in &mut owned[at as usize..at as usize + k] {
                                        *byte = 2;
                                    }
                                    work.release(id);
                                    conns[c] = None;
                                } else {
                                    work.written(at, at + k as u64);
                                }
                            }
                            None => {
                                work.release(id);
                                conns[c] = None;
                            }
                        }
                    }
                    Op::Release(c) => {
                        if let Some(id) = conns[c].take() {
                            work.release(id);
                        }
                    }
                }
            }
            // Every done byte was reserved (or there from the start).
            for &(a, b) in work.done() {
                prop_assert!(owned[a as usize..b as usize].iter().all(|&x| x == 1));
            }
            // Then every connection works until there is nothing left.
            let holes = owned.contains(&2);
            for _ in 0..100_000 {
                let mut busy = false;
                for conn in &mut conns {
                    if conn.is_none() {
                        *conn = work.take(min).map(|(id, ..)| id);
                    }
                    if let Some(id) = *conn {
                        busy = true;
                        match reserve(&mut work, &mut owned, id, 97)? {
                            Some((at, k)) => {
                                work.written(at, at + k as u64);
                            }
                            None => {
                                work.release(id);
                                *conn = None;
                            }
                        }
                    }
                }
                if !busy {
                    break;
                }
            }
            prop_assert!(work.is_idle());
            prop_assert_eq!(work.complete(size), !holes, "{:?}", work.done());
        }
    }
}
