//! One column of text for every row of the table, packed into one buffer: each value followed
//! by `\n`, in the order the values were added. The table keeps its rows' ids this way (the
//! only copy of them), the search its lower-cased source IPs; a search is a few SIMD substring
//! scans over one buffer instead of a million comparisons scattered over the heap
//! (DESIGN.md §6).
//!
//! Rows come and go (a followed table changes a few rows at a time): a removed or replaced
//! value's text stays behind as garbage, and rows keep their numbers as `Table::rows` does
//! (`swap_remove`), until the owner compacts the column (`compacted`) once the garbage
//! outgrows the rows.

use memchr::memmem;

#[derive(Debug, Default, Clone)]
pub struct TextColumn {
    text: String,
    /// Where each value starts, in text order, and the row that holds it (`GONE` once removed).
    values: Vec<(u32, u32)>,
    /// Row number to its entry in `values`.
    value_of_row: Vec<u32>,
    /// Some value added since the column was built has an upper-case or non-ASCII letter: a
    /// folded search must lower-case. Typical user ids never do, so their column is searched
    /// as it is stored.
    has_case: bool,
}

/// A value whose row was removed.
const GONE: u32 = u32::MAX;

/// How a search compares letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The text is stored lower-cased already, as the needle is.
    Stored,
    /// The text keeps its case; it is lower-cased (as `str::to_lowercase` does) while it is
    /// searched, a block at a time.
    Folded,
}

/// About 64 KB of text is lower-cased at a time: it stays in the CPU's cache while it is
/// searched.
const BLOCK_BYTES: usize = 64 * 1024;

impl TextColumn {
    pub fn with_capacity(rows: usize, bytes_per_row: usize) -> Self {
        TextColumn {
            text: String::with_capacity(rows * bytes_per_row),
            values: Vec::with_capacity(rows),
            value_of_row: Vec::with_capacity(rows),
            has_case: false,
        }
    }

    pub fn build<S: AsRef<str>>(values: impl Iterator<Item = S>, rows: usize) -> Self {
        let mut column = TextColumn::with_capacity(rows, 17);
        for value in values {
            column.push(value.as_ref());
        }
        column
    }

    pub fn rows(&self) -> usize {
        self.value_of_row.len()
    }

    /// Row `row`'s value.
    pub fn get(&self, row: usize) -> &str {
        match self.value_of_row.get(row) {
            Some(&value) => self.value_text(value as usize),
            None => "",
        }
    }

    fn value_text(&self, value: usize) -> &str {
        let start = self.values[value].0 as usize;
        // The next value starts right after this one's `\n`.
        let end = self
            .values
            .get(value + 1)
            .map_or(self.text.len(), |next| next.0 as usize);
        self.text
            .get(start..end.saturating_sub(1))
            .unwrap_or_default()
    }

    /// Add the value of a new last row.
    pub fn push(&mut self, value: &str) {
        let row = self.value_of_row.len() as u32;
        self.value_of_row.push(self.values.len() as u32);
        self.values.push((self.text.len() as u32, row));
        self.push_text(value);
    }

    fn push_text(&mut self, value: &str) {
        self.has_case |= value
            .bytes()
            .any(|b| !b.is_ascii() || b.is_ascii_uppercase());
        self.text.push_str(value);
        self.text.push('\n');
    }

    /// Row `row` holds a new value: the old one is left behind as garbage.
    pub fn replace(&mut self, row: usize, value: &str) {
        let Some(&old) = self.value_of_row.get(row) else {
            return;
        };
        self.values[old as usize].1 = GONE;
        self.value_of_row[row] = self.values.len() as u32;
        self.values.push((self.text.len() as u32, row as u32));
        self.push_text(value);
    }

    /// Mirror `rows.swap_remove(row)`: the row goes, the last row takes its number.
    pub fn swap_remove(&mut self, row: usize) {
        let last = self.value_of_row.len() - 1;
        self.values[self.value_of_row[row] as usize].1 = GONE;
        if row != last {
            let moved = self.value_of_row[last];
            self.values[moved as usize].1 = row as u32;
            self.value_of_row[row] = moved;
        }
        self.value_of_row.pop();
    }

    /// Values left behind by removed or replaced rows.
    pub fn garbage(&self) -> usize {
        self.values.len() - self.value_of_row.len()
    }

    /// The same rows' values without the garbage, in row order.
    pub fn compacted(&self) -> TextColumn {
        let mut column = TextColumn::with_capacity(self.rows(), 0);
        column
            .text
            .reserve(self.text.len() / self.values.len().max(1) * self.rows());
        for row in 0..self.rows() {
            column.push(self.get(row));
        }
        column
    }

    /// Sets the bit of every row whose value contains `needle` (lower-case).
    pub fn mark_containing(&self, needle: &str, case: Case, hits: &mut BitSet) {
        if needle.is_empty() {
            hits.set_all(self.rows());
            return;
        }
        let finder = memmem::Finder::new(needle.as_bytes());
        match case {
            Case::Stored => self.mark_in(self.text.as_bytes(), 0, 0, &finder, hits),
            Case::Folded if !self.has_case => {
                self.mark_in(self.text.as_bytes(), 0, 0, &finder, hits)
            }
            // Letters only change case: a needle without any is found as it is stored.
            Case::Folded
                if !needle.bytes().any(|b| b.is_ascii_alphabetic()) && needle.is_ascii() =>
            {
                self.mark_in(self.text.as_bytes(), 0, 0, &finder, hits)
            }
            // A run of digits and signs in the needle is found as stored, and each value it is
            // found in is then compared whole: no block is lower-cased.
            Case::Folded if caseless_anchor(needle).is_some() => {
                let anchor = caseless_anchor(needle).unwrap_or(needle);
                self.mark_verified(anchor, needle, hits);
            }
            Case::Folded => {
                let mut scratch = Vec::with_capacity(BLOCK_BYTES + 1024);
                let mut first = 0;
                while first < self.values.len() {
                    // Whole values only: a match never runs across two of them.
                    let start = self.values[first].0 as usize;
                    let mut last = first;
                    while last + 1 < self.values.len()
                        && (self.values[last + 1].0 as usize) - start < BLOCK_BYTES
                    {
                        last += 1;
                    }
                    let end = self
                        .values
                        .get(last + 1)
                        .map_or(self.text.len(), |next| next.0 as usize);
                    let block = &self.text[start..end];
                    if block.is_ascii() {
                        scratch.clear();
                        scratch.extend_from_slice(block.as_bytes());
                        scratch.make_ascii_lowercase();
                        self.mark_in(&scratch, start, first, &finder, hits);
                    } else {
                        // Lower-casing can change a value's length: value by value.
                        for value in first..=last {
                            let row = self.values[value].1;
                            if row != GONE && self.value_text(value).to_lowercase().contains(needle)
                            {
                                hits.set(row as usize);
                            }
                        }
                    }
                    first = last + 1;
                }
            }
        }
    }

    /// Mark the rows whose value holds `anchor` as stored and `needle` once lower-cased.
    fn mark_verified(&self, anchor: &str, needle: &str, hits: &mut BitSet) {
        let finder = memmem::Finder::new(anchor.as_bytes());
        self.each_value_found(
            self.text.as_bytes(),
            0,
            0,
            &finder,
            |value| {
                let candidate = self.value_text(value);
                if candidate.is_ascii() {
                    candidate
                        .as_bytes()
                        .windows(needle.len())
                        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
                } else {
                    candidate.to_lowercase().contains(needle)
                }
            },
            hits,
        );
    }

    /// Mark the rows whose value contains a match in `text`: the bytes of values `first…`,
    /// which start at `offset` of this column's text.
    fn mark_in(
        &self,
        text: &[u8],
        offset: usize,
        first: usize,
        finder: &memmem::Finder<'_>,
        hits: &mut BitSet,
    ) {
        self.each_value_found(text, offset, first, finder, |_| true, hits);
    }

    /// Each live value (of values `first…`, whose bytes `text` holds from `offset` of this
    /// column's text) in which `finder` matches, once: its row is marked when `keep` agrees.
    fn each_value_found(
        &self,
        text: &[u8],
        offset: usize,
        first: usize,
        finder: &memmem::Finder<'_>,
        keep: impl Fn(usize) -> bool,
        hits: &mut BitSet,
    ) {
        let needle = finder.needle();
        let start_of = |value: usize| self.values.get(value).map(|v| v.0 as usize - offset);
        let end_of = |value: usize| {
            self.values
                .get(value + 1)
                .map_or(self.text.len(), |next| next.0 as usize)
                - offset
        };
        let mut mark = |value: usize| {
            let row = self.values[value].1;
            if row != GONE && keep(value) {
                hits.set(row as usize);
            }
        };
        let mut value = first;
        let mut from = 0usize;
        while let Some(found) = finder.find(&text[from..]) {
            let at = from + found;
            // Matches come in order: walk forward to the value holding this one.
            while end_of(value) <= at {
                value += 1;
            }
            mark(value);
            // Ids of one pattern (`user-0012…`) hold a word at the same place: the next values
            // are tried there first, a compare instead of a search each when nearly every
            // value matches (a one-letter filter over a million ids).
            let place = at - start_of(value).unwrap_or(at);
            loop {
                value += 1;
                let Some(start) = start_of(value).filter(|&start| start < text.len()) else {
                    return;
                };
                // The value's text ends before its `\n`.
                let end = end_of(value) - 1;
                let guess = start + place;
                if guess + needle.len() <= end && text[guess..guess + needle.len()] == *needle {
                    mark(value);
                } else {
                    from = start;
                    break;
                }
            }
        }
    }
}

/// The longest run of ASCII digits and signs in an ASCII needle, when it is long enough to be
/// rare in the text (three bytes or more): every value whose lower-cased text holds the needle
/// holds this run as it is stored, since lower-casing changes only letters.
fn caseless_anchor(needle: &str) -> Option<&str> {
    if !needle.is_ascii() {
        return None;
    }
    needle
        .split(|c: char| c.is_ascii_alphabetic())
        .max_by_key(|run| run.len())
        .filter(|run| run.len() >= 3)
}

/// A fixed-size set of row numbers.
#[derive(Debug, Clone)]
pub struct BitSet(Vec<u64>);

impl BitSet {
    pub fn new(len: usize) -> Self {
        BitSet(vec![0; len.div_ceil(64)])
    }

    /// Rows `64 * n …` at once: bit `j` of `word` for row `64 * n + j`.
    pub fn set_word(&mut self, n: usize, word: u64) {
        if let Some(slot) = self.0.get_mut(n) {
            *slot |= word;
        }
    }

    pub fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub fn set_all(&mut self, len: usize) {
        self.0.fill(u64::MAX);
        // Keep the bits past the end clear, so sets of the same length compare cleanly.
        if !len.is_multiple_of(64) {
            if let Some(last) = self.0.last_mut() {
                *last = (1 << (len % 64)) - 1;
            }
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Every row of `other` is in this set.
    pub fn covers(&self, other: &BitSet) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| b & !a == 0)
    }

    /// Every one of the `len` rows is in the set.
    pub fn is_full(&self, len: usize) -> bool {
        let whole = len / 64;
        self.0.iter().take(whole).all(|w| *w == u64::MAX)
            && (len.is_multiple_of(64)
                || self
                    .0
                    .get(whole)
                    .is_some_and(|w| w & ((1 << (len % 64)) - 1) == (1 << (len % 64)) - 1))
    }

    pub fn union(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    pub fn intersect(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Values pushed, replaced and removed in any order: every row reads back its value,
        /// compacting keeps them, and a folded search finds exactly the values whose
        /// lower-cased text holds the needle (blocks of several values included).
        #[test]
        fn values_read_back_and_folded_search_agrees_with_to_lowercase(
            steps in proptest::collection::vec((0..3usize, 0..50usize, "[aAbBéÉK1=\\n-]{0,8}"), 1..120),
            // Short needles (folded blocks, letterless ones as stored) and needles with a run
            // of three signs (found by that run, then compared whole).
            needle in "([abé1=-]{1,3}|[abk]?[1=-]{3,4}[abk]?)",
        ) {
            let mut column = TextColumn::default();
            let mut model: Vec<String> = Vec::new();
            for (op, at, value) in steps {
                match op {
                    0 => { column.push(&value); model.push(value); }
                    1 if !model.is_empty() => {
                        let at = at % model.len();
                        column.replace(at, &value);
                        model[at] = value;
                    }
                    _ if !model.is_empty() => {
                        let at = at % model.len();
                        column.swap_remove(at);
                        model.swap_remove(at);
                    }
                    _ => {}
                }
            }
            let compacted = column.compacted();
            for (row, value) in model.iter().enumerate() {
                proptest::prop_assert_eq!(column.get(row), value.as_str());
                proptest::prop_assert_eq!(compacted.get(row), value.as_str());
            }
            let mut hits = BitSet::new(model.len());
            column.mark_containing(&needle, Case::Folded, &mut hits);
            for (row, value) in model.iter().enumerate() {
                proptest::prop_assert_eq!(hits.contains(row), value.to_lowercase().contains(&needle), "{:?} in {:?}", needle, value);
            }
        }
    }

    #[test]
    fn a_set_is_full_or_covers_another_only_when_every_row_is_in_it() {
        for len in [0, 1, 63, 64, 65, 130] {
            let mut all = BitSet::new(len);
            all.set_all(len);
            assert!(all.is_full(len), "{len}");
            let mut some = BitSet::new(len);
            if len > 1 {
                some.set(len - 1);
                assert!(!some.is_full(len), "{len}");
                assert!(all.covers(&some) && !some.covers(&all), "{len}");
            }
        }
    }

    #[test]
    fn values_of_one_pattern_are_found_at_the_same_place_and_elsewhere() {
        // The same place first, then a value shorter than the place, a value holding the word
        // elsewhere, a removed value, and the word again in place.
        let mut column = TextColumn::default();
        for value in ["ab-1", "ab-2", "a", "xxab-", "ab-3", "zz", "ab", "ab-4"] {
            column.push(value);
        }
        column.swap_remove(4);
        let mut hits = BitSet::new(column.rows());
        column.mark_containing("ab", Case::Stored, &mut hits);
        let found: Vec<&str> = (0..column.rows())
            .filter(|&i| hits.contains(i))
            .map(|i| column.get(i))
            .collect();
        assert_eq!(found, ["ab-1", "ab-2", "xxab-", "ab-4", "ab"]);
    }

    #[test]
    fn a_folded_search_spans_many_blocks() {
        let values: Vec<String> = (0..20_000).map(|i| format!("User-{i:07}")).collect();
        let column = TextColumn::build(values.iter(), values.len());
        let mut hits = BitSet::new(values.len());
        column.mark_containing("user-00123", Case::Folded, &mut hits);
        let found: Vec<usize> = (0..values.len()).filter(|&i| hits.contains(i)).collect();
        assert_eq!(found, (12_300..12_400).collect::<Vec<_>>());
    }
}
