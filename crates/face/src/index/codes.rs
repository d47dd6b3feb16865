//! Binary codes: one bit a dimension, the sign of the face's offset from the centre of the
//! enrolled faces, kept in memory and grouped by the cells a face is filed under. A search scans the codes of the
//! probe's nearest cells with popcount (16 bytes a 128-d face, about a nanosecond each) and hands
//! Qdrant only the short list to score exactly, instead of making Qdrant read every face filed
//! under those cells through its payload index (where walking the posting lists, checking the
//! filter and keeping the top list cost about ten times the distance itself).
//!
//! The codes are derived data: Qdrant holds every vector and each face's cells, and the codes
//! are rebuilt from it when an index opens. Centring matters: embeddings sit far from the origin
//! (dlib's about 1.3 away), so the sign of a raw coordinate is nearly constant and carries no
//! information; the sign of the offset from the centre splits every dimension near its middle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use super::cells::{Cells, parallel_map};
use super::{CodeStatus, FaceId};
use crate::FaceError;

/// One face read back from an index: its id, the cells it is filed under (none: never filed)
/// and its vector.
pub(crate) type ReadBack = (FaceId, Vec<u32>, Vec<f32>);

/// No second cell.
const NO_CELL: u32 = u32::MAX;

/// Codes in the probe's cells below which a search scans on one thread.
const PARALLEL_FROM: usize = 65_536;

/// The codes of one cell, side by side.
#[derive(Debug, Default, Clone)]
struct CodeList {
    /// `ids.len() × words` words.
    codes: Vec<u64>,
    ids: Vec<FaceId>,
}

/// The binary codes of an index's faces, by cell.
#[derive(Debug, Clone)]
pub(crate) struct Codes {
    /// The mean of the cell centroids: the point every code is taken relative to.
    centre: Vec<f32>,
    words: usize,
    lists: Vec<CodeList>,
    /// Each face's first two cells (the second `NO_CELL` if it has one only), to replace or
    /// remove its code: 16 bytes a face.
    home: HashMap<FaceId, [u32; 2]>,
    /// The further cells of faces filed under more than two.
    spilled: HashMap<FaceId, Box<[u32]>>,
    /// Whether every face of the index is in: a table being read back from the index takes
    /// writes but serves no search.
    complete: bool,
}

impl Codes {
    /// An empty table for the faces filed under `cells`.
    pub(crate) fn new(cells: &Cells) -> Codes {
        let dimension = cells.dimension();
        let count = cells.count();
        let mut centre = vec![0f64; dimension];
        for cell in 0..count {
            for (sum, &x) in centre.iter_mut().zip(cells.centroid(cell)) {
                *sum += f64::from(x);
            }
        }
        Codes {
            centre: centre.iter().map(|&s| (s / count as f64) as f32).collect(),
            words: dimension.div_ceil(64),
            lists: vec![CodeList::default(); count],
            home: HashMap::new(),
            spilled: HashMap::new(),
            complete: false,
        }
    }

    /// Whether the table holds every face of its index.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete
    }

    /// Mark the table as holding every face of its index.
    pub(crate) fn complete(&mut self) {
        self.complete = true;
    }

    /// Faces held.
    pub(crate) fn len(&self) -> usize {
        self.home.len()
    }

    fn encode_into(&self, values: &[f32], out: &mut Vec<u64>) {
        let start = out.len();
        out.resize(start + self.words, 0);
        for (bit, (&x, &c)) in values.iter().zip(&self.centre).enumerate() {
            if x > c {
                out[start + bit / 64] |= 1 << (bit % 64);
            }
        }
    }

    /// Insert or replace the code of face `id` filed under `cells`. Cells out of range (a face
    /// filed under other cells than these) are skipped.
    pub(crate) fn insert(&mut self, id: FaceId, cells: &[u32], values: &[f32]) {
        self.remove(id);
        let cells: Vec<u32> = cells
            .iter()
            .copied()
            .filter(|&cell| (cell as usize) < self.lists.len())
            .collect();
        let Some(&first) = cells.first() else {
            return;
        };
        let second = cells.get(1).copied().unwrap_or(NO_CELL);
        let mut code = Vec::with_capacity(self.words);
        self.encode_into(values, &mut code);
        for &cell in &cells {
            let list = &mut self.lists[cell as usize];
            list.codes.extend_from_slice(&code);
            list.ids.push(id);
        }
        self.home.insert(id, [first, second]);
        if cells.len() > 2 {
            self.spilled.insert(id, cells[2..].into());
        }
    }

    /// Remove the code of face `id`, if held.
    pub(crate) fn remove(&mut self, id: FaceId) {
        let Some(first) = self.home.remove(&id) else {
            return;
        };
        let further = self.spilled.remove(&id).unwrap_or_default();
        for &cell in first
            .iter()
            .filter(|&&c| c != NO_CELL)
            .chain(further.iter())
        {
            let list = &mut self.lists[cell as usize];
            if let Some(at) = list.ids.iter().position(|&other| other == id) {
                let last = list.ids.len() - 1;
                list.ids.swap(at, last);
                list.ids.truncate(last);
                for word in 0..self.words {
                    list.codes
                        .swap(at * self.words + word, last * self.words + word);
                }
                list.codes.truncate(last * self.words);
            }
        }
    }

    /// The `n` faces filed in `cells` whose codes are nearest to `probe`'s (Hamming distance,
    /// ties by id), nearest first. Several threads share the scan when it is large.
    pub(crate) fn short_list(&self, probe: &[f32], cells: &[u32], n: usize) -> Vec<FaceId> {
        let mut code = Vec::with_capacity(self.words);
        self.encode_into(probe, &mut code);
        // Empty cells left out: each part below then holds codes, so there are at most as many
        // parts as processors.
        let lists: Vec<&CodeList> = cells
            .iter()
            .filter_map(|&cell| self.lists.get(cell as usize))
            .filter(|list| !list.ids.is_empty())
            .collect();
        let total: usize = lists.iter().map(|list| list.ids.len()).sum();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let mut found = if total < PARALLEL_FROM || threads == 1 {
            scan(&lists, &code, n)
        } else {
            // Split the cells into runs of about equal numbers of codes, one a thread.
            let share = total.div_ceil(threads);
            let mut parts: Vec<Vec<&CodeList>> = vec![Vec::new()];
            let mut filled = 0;
            for list in lists {
                if filled >= share {
                    parts.push(Vec::new());
                    filled = 0;
                }
                filled += list.ids.len();
                if let Some(part) = parts.last_mut() {
                    part.push(list);
                }
            }
            // At most one part a processor: `parallel_map` gives each its own thread.
            parallel_map(&parts, |part| scan(part, &code, n))
                .into_iter()
                .flatten()
                .collect()
        };
        // A face filed under two of the cells comes twice, at one distance: once is enough.
        found.sort_unstable();
        found.dedup();
        found.truncate(n);
        found.into_iter().map(|(_, id)| id).collect()
    }
}

/// An index's codes as the index uses them: written in the index's write order, read back from
/// the index by threads of their own, searched once complete.
///
/// The index is read and written as one or more streams (the embedded index's shards: a face
/// lives in one); each has a lock held across a write to it and the matching table update, and
/// by its reader for each page it reads, so a write lands either before a page is read or after
/// it is entered.
#[derive(Debug)]
pub(crate) struct CodeTable {
    codes: Arc<RwLock<Option<Codes>>>,
    writes: Arc<Vec<Mutex<()>>>,
    reader: Mutex<Option<Reader>>,
}

/// The threads reading the codes back from the index, one a stream.
#[derive(Debug)]
struct Reader {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Reader {
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.handles {
            // A reader that panicked has nothing left to clean up.
            let _ = handle.join();
        }
    }
}

impl Drop for CodeTable {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.lock().ok().and_then(|mut r| r.take()) {
            reader.stop();
        }
    }
}

fn poisoned<T>(_: T) -> FaceError {
    FaceError::index("a lock of the face codes was poisoned")
}

impl CodeTable {
    /// A table for an index read and written as `streams` streams.
    pub(crate) fn new(streams: usize) -> CodeTable {
        CodeTable {
            codes: Arc::default(),
            writes: Arc::new((0..streams.max(1)).map(|_| Mutex::new(())).collect()),
            reader: Mutex::new(None),
        }
    }

    /// Hold this across a write to `stream` of the index and the matching
    /// [`CodeTable::insert`] or [`CodeTable::remove`].
    pub(crate) fn write_order(&self, stream: usize) -> Result<MutexGuard<'_, ()>, FaceError> {
        self.writes[stream % self.writes.len()]
            .lock()
            .map_err(poisoned)
    }

    /// Enter faces just written to the index, with the cells each is filed under.
    pub(crate) fn insert<'a>(
        &self,
        faces: impl IntoIterator<Item = (FaceId, &'a [u32], &'a [f32])>,
    ) -> Result<(), FaceError> {
        if let Some(codes) = self.codes.write().map_err(poisoned)?.as_mut() {
            for (id, cells, values) in faces {
                codes.insert(id, cells, values);
            }
        }
        Ok(())
    }

    /// Drop a face just removed from the index.
    pub(crate) fn remove(&self, id: FaceId) -> Result<(), FaceError> {
        if let Some(codes) = self.codes.write().map_err(poisoned)?.as_mut() {
            codes.remove(id);
        }
        Ok(())
    }

    /// The short list for `probe` in `cells`, or none while the table is incomplete.
    pub(crate) fn short_list(
        &self,
        probe: &[f32],
        cells: &[u32],
        n: usize,
    ) -> Result<Option<Vec<FaceId>>, FaceError> {
        let codes = self.codes.read().map_err(poisoned)?;
        Ok(codes
            .as_ref()
            .filter(|codes| codes.is_complete())
            .map(|codes| codes.short_list(probe, cells, n)))
    }

    /// Start over with an empty table for `cells` and read every face back from the index, a
    /// thread a stream, `pages[i]` giving the next page of stream `i` (none at its end). Writes
    /// made meanwhile are entered too; searches use the table once every stream is read.
    pub(crate) fn read_back<P>(&self, cells: &Cells, pages: Vec<P>) -> Result<(), FaceError>
    where
        P: FnMut() -> Result<Option<Vec<ReadBack>>, FaceError> + Send + 'static,
    {
        let mut reader = self.reader.lock().map_err(poisoned)?;
        if let Some(old) = reader.take() {
            old.stop();
        }
        *self.codes.write().map_err(poisoned)? = Some(Codes::new(cells));
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let remaining = Arc::new(AtomicUsize::new(pages.len()));
        let mut handles = Vec::with_capacity(pages.len());
        for (stream, mut page) in pages.into_iter().enumerate() {
            let (codes, writes) = (self.codes.clone(), self.writes.clone());
            let (stopped, failed, remaining) = (stop.clone(), failure.clone(), remaining.clone());
            let mut read = move || -> Result<(), FaceError> {
                loop {
                    if stopped.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let _order = writes[stream % writes.len()].lock().map_err(poisoned)?;
                    let Some(faces) = page()? else {
                        break;
                    };
                    let mut held = codes.write().map_err(poisoned)?;
                    let Some(table) = held.as_mut() else {
                        return Ok(());
                    };
                    for (id, cells, values) in faces {
                        if cells.is_empty() {
                            return Err(FaceError::index(format!(
                                "face {id} is in the index but filed under no cell"
                            )));
                        }
                        table.insert(id, &cells, &values);
                    }
                }
                // The last stream to finish completes the table.
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1
                    && let Some(table) = codes.write().map_err(poisoned)?.as_mut()
                {
                    table.complete();
                }
                Ok(())
            };
            let handle = std::thread::Builder::new()
                .name(format!("face-codes-{stream}"))
                .spawn(move || {
                    if let Err(e) = read()
                        && let Ok(mut failed) = failed.lock()
                    {
                        *failed = Some(e.to_string());
                    }
                })
                .map_err(|e| FaceError::index(format!("starting the face code reader: {e}")))?;
            handles.push(handle);
        }
        *reader = Some(Reader {
            stop,
            handles,
            failure,
        });
        Ok(())
    }

    /// Where the table stands.
    pub(crate) fn status(&self) -> CodeStatus {
        let failure = self
            .reader
            .lock()
            .ok()
            .and_then(|r| r.as_ref().and_then(|r| r.failure.lock().ok()?.clone()));
        if let Some(failure) = failure {
            return CodeStatus::Failed(failure);
        }
        match self.codes.read().ok().as_deref() {
            Some(Some(codes)) if codes.is_complete() => CodeStatus::Ready(codes.len()),
            Some(Some(codes)) => CodeStatus::Reading(codes.len()),
            _ => CodeStatus::Off,
        }
    }
}

/// Codes whose distances are computed together before they are compared with the bound.
const BLOCK: usize = 256;

/// The `n` nearest (distance, id) in `lists`, unordered; ties at the cut all kept.
///
/// On x86-64 processors with AVX2 (and POPCNT) a copy compiled for them runs (LLVM counts the
/// bits of a block of codes with vector instructions), on those with POPCNT only one compiled for
/// it; elsewhere the portable one. All return the same (tested).
fn scan(lists: &[&CodeList], probe: &[u64], n: usize) -> Vec<(u32, FaceId)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the processor has AVX2 and POPCNT, checked just above; the function needs
        // nothing else.
        #[allow(unsafe_code)]
        return unsafe { scan_avx2(lists, probe, n) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor has POPCNT, checked just above; the function needs nothing else.
        #[allow(unsafe_code)]
        return unsafe { scan_popcnt(lists, probe, n) };
    }
    scan_portable(lists, probe, n)
}

/// [`scan`] compiled for AVX2 and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn scan_avx2(lists: &[&CodeList], probe: &[u64], n: usize) -> Vec<(u32, FaceId)> {
    scan_portable(lists, probe, n)
}

/// [`scan`] compiled for POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn scan_popcnt(lists: &[&CodeList], probe: &[u64], n: usize) -> Vec<(u32, FaceId)> {
    scan_portable(lists, probe, n)
}

/// [`scan`] for any processor (inlined into the dispatched copies).
#[inline(always)]
fn scan_portable(lists: &[&CodeList], probe: &[u64], n: usize) -> Vec<(u32, FaceId)> {
    let words = probe.len();
    let mut found: Vec<(u32, FaceId)> = Vec::with_capacity(2 * n + 1);
    let mut bound = u32::MAX;
    let keep = |found: &mut Vec<(u32, FaceId)>, bound: &mut u32| {
        if n > 0 && found.len() > n {
            found.select_nth_unstable(n - 1);
            found.truncate(n);
        }
        *bound = found.iter().map(|f| f.0).max().unwrap_or(u32::MAX);
    };
    let mut distances = [0u32; BLOCK];
    for list in lists {
        for (codes, ids) in list.codes.chunks(BLOCK * words).zip(list.ids.chunks(BLOCK)) {
            let distances = &mut distances[..ids.len()];
            // The common dimensions get a loop the compiler can unroll and vectorise.
            match *probe {
                [p0, p1] => {
                    for (d, code) in distances.iter_mut().zip(codes.chunks_exact(2)) {
                        *d = (code[0] ^ p0).count_ones() + (code[1] ^ p1).count_ones();
                    }
                }
                [p0, p1, p2, p3] => {
                    for (d, code) in distances.iter_mut().zip(codes.chunks_exact(4)) {
                        *d = (code[0] ^ p0).count_ones()
                            + (code[1] ^ p1).count_ones()
                            + (code[2] ^ p2).count_ones()
                            + (code[3] ^ p3).count_ones();
                    }
                }
                _ => {
                    for (d, code) in distances.iter_mut().zip(codes.chunks_exact(words)) {
                        *d = code
                            .iter()
                            .zip(probe)
                            .map(|(a, b)| (a ^ b).count_ones())
                            .sum();
                    }
                }
            }
            for (&distance, &id) in distances.iter().zip(ids) {
                if distance <= bound {
                    found.push((distance, id));
                    if found.len() >= 2 * n {
                        keep(&mut found, &mut bound);
                    }
                }
            }
        }
    }
    if found.len() > n {
        keep(&mut found, &mut bound);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells() -> Cells {
        // Two cells in 3-d, centre (0.5, 0.5, 0.5).
        Cells::from_parts(3, vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap()
    }

    #[test]
    fn codes_are_signs_about_the_centre_and_the_short_list_is_by_hamming_distance() {
        let mut codes = Codes::new(&cells());
        codes.insert(1, &[0], &[0.1, 0.1, 0.1]); // 000
        codes.insert(2, &[0], &[0.9, 0.1, 0.1]); // 100
        codes.insert(3, &[1], &[0.9, 0.9, 0.1]); // 110
        codes.insert(4, &[1], &[0.9, 0.9, 0.9]); // 111
        assert_eq!(codes.len(), 4);
        // Probe 111: 4 (0), 3 (1), 2 (2), 1 (3).
        assert_eq!(codes.short_list(&[0.8, 0.7, 0.6], &[0, 1], 4), [4, 3, 2, 1]);
        assert_eq!(codes.short_list(&[0.8, 0.7, 0.6], &[0, 1], 2), [4, 3]);
        // Only the cells asked for are read.
        assert_eq!(codes.short_list(&[0.8, 0.7, 0.6], &[0], 4), [2, 1]);
        assert_eq!(
            codes.short_list(&[0.8, 0.7, 0.6], &[7], 4),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn replacing_and_removing_a_face_moves_its_code() {
        let mut codes = Codes::new(&cells());
        codes.insert(1, &[0], &[0.1, 0.1, 0.1]);
        codes.insert(2, &[0], &[0.2, 0.2, 0.2]);
        codes.insert(1, &[1], &[0.9, 0.9, 0.9]);
        assert_eq!(codes.len(), 2);
        assert_eq!(codes.short_list(&[0.0; 3], &[0], 5), [2]);
        assert_eq!(codes.short_list(&[0.0; 3], &[1], 5), [1]);
        codes.remove(2);
        codes.remove(2);
        codes.remove(99);
        assert_eq!(codes.len(), 1);
        assert_eq!(codes.short_list(&[0.0; 3], &[0, 1], 5), [1]);
        // Filed under two cells: found in either, once when both are read, removed from both.
        codes.insert(3, &[1, 0, 9], &[0.9, 0.1, 0.1]);
        assert_eq!(codes.short_list(&[0.0; 3], &[0], 5), [3]);
        assert_eq!(codes.short_list(&[0.9, 0.0, 0.0], &[0, 1], 5), [3, 1]);
        codes.insert(3, &[1], &[0.9, 0.1, 0.1]);
        assert_eq!(codes.short_list(&[0.0; 3], &[0], 5), Vec::<u64>::new());
        codes.remove(3);
        codes.remove(1);
        assert_eq!(codes.len(), 0);
        assert!(
            codes
                .lists
                .iter()
                .all(|l| l.ids.is_empty() && l.codes.is_empty())
        );
        codes.insert(4, &[9], &[0.0; 3]);
        assert_eq!(codes.len(), 0);
    }

    #[test]
    fn the_scan_returns_the_nearest_codes_on_every_path() {
        // 128-d (two words), 200-d (four, the last partial), 300-d (five: the general loop);
        // enough codes to split the scan over threads.
        for dimension in [128, 200, 300] {
            let centroids: Vec<f32> = (0..4 * dimension)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
                .collect();
            let cells = Cells::from_parts(dimension, centroids).unwrap();
            let mut codes = Codes::new(&cells);
            let mut state = 0x1234_5678_u64;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32
            };
            let count = PARALLEL_FROM as u64 + 5000;
            let mut all = Vec::new();
            for id in 0..count {
                let values: Vec<f32> = (0..dimension).map(|_| next()).collect();
                codes.insert(id, &[(id % 4) as u32], &values);
                all.push(values);
            }
            let probe: Vec<f32> = (0..dimension).map(|_| next()).collect();
            // The reference: every distance bit by bit, sorted, the first 300.
            let bit = |v: &[f32], i: usize| v[i] > codes.centre[i];
            let mut reference: Vec<(u32, u64)> = all
                .iter()
                .enumerate()
                .map(|(id, v)| {
                    let d = (0..dimension)
                        .filter(|&i| bit(v, i) != bit(&probe, i))
                        .count();
                    (d as u32, id as u64)
                })
                .collect();
            reference.sort_unstable();
            reference.truncate(300);
            let expected: Vec<u64> = reference.into_iter().map(|r| r.1).collect();
            assert_eq!(
                codes.short_list(&probe, &[0, 1, 2, 3], 300),
                expected,
                "{dimension}-d"
            );
            let lists: Vec<&CodeList> = codes.lists.iter().collect();
            let mut code = Vec::new();
            codes.encode_into(&probe, &mut code);
            let mut portable = scan_portable(&lists, &code, 300);
            portable.sort_unstable();
            portable.truncate(300);
            let portable: Vec<u64> = portable.into_iter().map(|f| f.1).collect();
            assert_eq!(portable, expected, "{dimension}-d, portable");
        }
    }
}
