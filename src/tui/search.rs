//! The filter's fast path: the searchable columns of every row, lower-cased and packed into one
//! buffer per column, so a keystroke over 1,000,000 rows is a few SIMD substring scans instead
//! of a million string comparisons scattered over the heap (DESIGN.md §6).

use super::app::Row;
use super::filter::{Filter, Term};
use crate::ops::classify::ConnectionState;
use memchr::memmem;

/// One column of text, lower-cased: every value is followed by `\n` in `text`, in the order
/// the values were added. A filter word never holds whitespace, so no match can run across two
/// values. Rows can come and go (a followed table changes a few rows at a time): a removed
/// row's text stays behind as garbage, and rows keep their numbers as `App::rows` does
/// (`swap_remove`), until `SearchIndex::compact_if_wasteful` rebuilds the lot.
#[derive(Debug, Default, Clone)]
struct Column {
    text: Vec<u8>,
    /// Where each value starts, in text order, and the row that holds it (`GONE` once removed).
    values: Vec<(u32, u32)>,
    /// Row number to its entry in `values`.
    value_of_row: Vec<u32>,
}

/// A value whose row was removed.
const GONE: u32 = u32::MAX;

impl Column {
    fn build<S: AsRef<str>>(values: impl Iterator<Item = S>, rows: usize) -> Self {
        let mut column = Column {
            text: Vec::with_capacity(rows * 17),
            values: Vec::with_capacity(rows),
            value_of_row: Vec::with_capacity(rows),
        };
        for value in values {
            column.push(value.as_ref());
        }
        column
    }

    fn rows(&self) -> usize {
        self.value_of_row.len()
    }

    /// Add the value of a new last row.
    fn push(&mut self, value: &str) {
        let row = self.value_of_row.len() as u32;
        self.value_of_row.push(self.values.len() as u32);
        self.values.push((self.text.len() as u32, row));
        self.push_text(value);
    }

    fn push_text(&mut self, value: &str) {
        if value.is_ascii() {
            self.text
                .extend(value.bytes().map(|b| b.to_ascii_lowercase()));
        } else {
            self.text.extend(value.to_lowercase().bytes());
        }
        self.text.push(b'\n');
    }

    /// Mirror `rows.swap_remove(row)`: the row goes, the last row takes its number.
    fn swap_remove(&mut self, row: usize) {
        let last = self.value_of_row.len() - 1;
        self.values[self.value_of_row[row] as usize].1 = GONE;
        if row != last {
            let moved = self.value_of_row[last];
            self.values[moved as usize].1 = row as u32;
            self.value_of_row[row] = moved;
        }
        self.value_of_row.pop();
    }

    /// Row `row` holds a new value: the old one is left behind as garbage.
    fn replace(&mut self, row: usize, value: &str) {
        let Some(&old) = self.value_of_row.get(row) else {
            return;
        };
        self.values[old as usize].1 = GONE;
        self.value_of_row[row] = self.values.len() as u32;
        self.values.push((self.text.len() as u32, row as u32));
        self.push_text(value);
    }

    /// Values left behind by removed rows.
    fn garbage(&self) -> usize {
        self.values.len() - self.value_of_row.len()
    }

    /// Sets the bit of every row whose value contains `needle` (already lower-case).
    fn mark_containing(&self, needle: &str, hits: &mut BitSet) {
        if needle.is_empty() {
            hits.set_all(self.rows());
            return;
        }
        let finder = memmem::Finder::new(needle.as_bytes());
        let end_of = |value: usize| {
            self.values
                .get(value + 1)
                .map_or(self.text.len(), |next| next.0 as usize)
        };
        let mut value = 0usize;
        let mut from = 0usize;
        while let Some(found) = finder.find(&self.text[from..]) {
            let at = from + found;
            // Matches come in order: walk forward to the value holding this one.
            while end_of(value) <= at {
                value += 1;
            }
            let row = self.values[value].1;
            if row != GONE {
                hits.set(row as usize);
            }
            // The rest of this value cannot add anything: go on from the next one.
            from = end_of(value);
            if from >= self.text.len() {
                break;
            }
        }
    }
}

/// A fixed-size set of row numbers.
#[derive(Debug, Clone)]
pub struct BitSet(Vec<u64>);

impl BitSet {
    pub fn new(len: usize) -> Self {
        BitSet(vec![0; len.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn set_all(&mut self, len: usize) {
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

    fn union(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    fn intersect(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }
}

/// The rows' searchable text, kept in step with `App::rows` by the table code.
#[derive(Debug, Default, Clone)]
pub struct SearchIndex {
    users: Column,
    ids: Column,
    /// Source IPs change only when probes answer; each change replaces the row's value.
    ips: Column,
    /// Each row's state, packed: a state term reads 1 MB instead of touching every row.
    states: Vec<ConnectionState>,
}

impl SearchIndex {
    /// Index every row from scratch (after a scan changed the rows).
    pub fn build(rows: &[Row]) -> Self {
        SearchIndex {
            users: Column::build(rows.iter().map(|r| r.user_id()), rows.len()),
            ids: Column::build(rows.iter().map(|r| r.connection_id()), rows.len()),
            ips: Column::build(rows.iter().map(source_ip), rows.len()),
            states: rows.iter().map(|r| r.state).collect(),
        }
    }

    /// A row's state changed (a probe answered, a push met Gone).
    pub fn state_changed(&mut self, row: usize, state: ConnectionState) {
        if let Some(slot) = self.states.get_mut(row) {
            *slot = state;
        }
    }

    /// A row was added at the end of `rows`.
    pub fn push(&mut self, row: &Row) {
        self.users.push(row.user_id());
        self.ids.push(row.connection_id());
        self.ips.push(&source_ip(row));
        self.states.push(row.state);
    }

    /// Mirror `rows.swap_remove(row)`.
    pub fn swap_remove(&mut self, row: usize) {
        self.users.swap_remove(row);
        self.ids.swap_remove(row);
        self.ips.swap_remove(row);
        self.states.swap_remove(row);
    }

    /// Rebuild a column once removed or replaced values left more garbage than there are
    /// rows: memory stays bounded however long a table is followed, at the cost of one rebuild
    /// per table's worth of churn.
    pub fn compact_if_wasteful(&mut self, rows: &[Row]) {
        let wasteful = |column: &Column| column.garbage() > rows.len().max(1024);
        if wasteful(&self.users) || wasteful(&self.ids) {
            self.users = Column::build(rows.iter().map(Row::user_id), rows.len());
            self.ids = Column::build(rows.iter().map(Row::connection_id), rows.len());
        }
        if wasteful(&self.ips) {
            self.ips = Column::build(rows.iter().map(source_ip), rows.len());
        }
    }

    /// A probe changed row `row`'s source IP.
    pub fn ip_changed(&mut self, row: usize, ip: &str) {
        self.ips.replace(row, ip);
    }

    /// The rows (by position in `rows`) that `filter` lets through.
    pub fn matching(&mut self, filter: &Filter, rows: &[Row]) -> BitSet {
        if self.states.len() != rows.len() {
            *self = SearchIndex::build(rows);
        }
        let mut result: Option<BitSet> = None;
        for term in filter.terms() {
            let mut hits = BitSet::new(rows.len());
            match term {
                Term::User(u) => self.users.mark_containing(u, &mut hits),
                Term::Id(i) => self.ids.mark_containing(i, &mut hits),
                Term::Ip(i) => self.ips.mark_containing(i, &mut hits),
                Term::State(s) => mark_states(
                    &self.states,
                    |state| state.as_str().starts_with(s.as_str()),
                    &mut hits,
                ),
                Term::Any(a) => {
                    self.users.mark_containing(a, &mut hits);
                    let mut more = BitSet::new(rows.len());
                    self.ids.mark_containing(a, &mut more);
                    self.ips.mark_containing(a, &mut more);
                    mark_states(&self.states, |state| state.as_str() == a, &mut more);
                    hits.union(&more);
                }
            }
            match &mut result {
                Some(all) => all.intersect(&hits),
                None => result = Some(hits),
            }
        }
        result.unwrap_or_else(|| {
            let mut all = BitSet::new(rows.len());
            all.set_all(rows.len());
            all
        })
    }
}

fn source_ip(row: &Row) -> String {
    row.source_ip().unwrap_or_default()
}

fn mark_states(
    states: &[ConnectionState],
    wanted: impl Fn(ConnectionState) -> bool,
    hits: &mut BitSet,
) {
    let wanted_count = ConnectionState::ALL.iter().filter(|s| wanted(**s)).count();
    if wanted_count == 0 {
        return;
    }
    if wanted_count == ConnectionState::ALL.len() {
        hits.set_all(states.len());
        return;
    }
    for (i, state) in states.iter().enumerate() {
        if wanted(*state) {
            hits.set(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnectionInfo, ConnectionRecord};

    fn row(user: &str, id: &str, ip: Option<&str>, state: ConnectionState) -> Row {
        let mut row = Row::new(ConnectionRecord::new(user, id));
        row.state = state;
        let info = ip.map(|ip| ConnectionInfo {
            source_ip: Some(ip.into()),
            ..Default::default()
        });
        row.set_info(
            info.map(|info| crate::tui::compact::ProbedInfo::new(&info, &mut Default::default())),
        );
        row
    }

    proptest::proptest! {
        /// Any table, any filter typed: the fast path lets through exactly the rows the
        /// row-by-row definition does.
        #[test]
        fn any_filter_selects_what_the_definition_selects(
            table in proptest::collection::vec(
                ("[aAbB1é:.-]{0,6}", "[aAbB1=]{0,6}", proptest::option::of("[0-9a.:]{0,6}"), 0..6usize),
                0..40,
            ),
            text in "(state:|user:|id:|ip:)?[aAbB1é.:-]{0,3}( [aAbB1:]{0,3}){0,2}",
        ) {
            let rows: Vec<Row> = table
                .iter()
                .map(|(user, id, ip, state)| row(user, id, ip.as_deref(), ConnectionState::ALL[*state]))
                .collect();
            let filter = Filter::parse(&text);
            let hits = SearchIndex::build(&rows).matching(&filter, &rows);
            for (i, r) in rows.iter().enumerate() {
                proptest::prop_assert_eq!(hits.contains(i), filter.matches(r), "{:?} on {:?}", text, r.record());
            }
        }
    }

    proptest::proptest! {
        /// Rows removed (as `Vec::swap_remove` does) and added one by one: the index still
        /// answers for every row exactly as the definition does.
        #[test]
        fn rows_removed_and_added_stay_searchable(
            table in proptest::collection::vec(("[aAb1]{0,4}", "[aB1=]{0,4}", 0..6usize), 1..40),
            steps in proptest::collection::vec((proptest::bool::ANY, 0..40usize, "[ab1]{0,3}"), 0..40),
            text in "(state:|user:|id:)?[ab1]{0,2}( [ab1]{0,2})?",
        ) {
            let mut rows: Vec<Row> = table
                .iter()
                .map(|(user, id, state)| row(user, id, None, ConnectionState::ALL[*state]))
                .collect();
            let mut index = SearchIndex::build(&rows);
            for (remove, at, value) in steps {
                if remove && !rows.is_empty() {
                    let at = at % rows.len();
                    index.swap_remove(at);
                    rows.swap_remove(at);
                } else {
                    rows.push(row(&value, &value.to_uppercase(), None, ConnectionState::Live));
                    index.push(&rows[rows.len() - 1]);
                }
                index.compact_if_wasteful(&rows);
            }
            let filter = Filter::parse(&text);
            let hits = index.matching(&filter, &rows);
            for (i, r) in rows.iter().enumerate() {
                proptest::prop_assert_eq!(hits.contains(i), filter.matches(r), "{:?} on {:?}", text, r.record());
            }
        }
    }

    #[test]
    fn a_changed_address_is_found_by_the_new_one_only_and_garbage_is_compacted() {
        let mut rows: Vec<Row> = (0..2000)
            .map(|i| row(&format!("u{i}"), &format!("C{i}"), Some("10.0.0.1"), ConnectionState::Live))
            .collect();
        let mut index = SearchIndex::build(&rows);
        for round in 0..3 {
            for (i, r) in rows.iter_mut().enumerate() {
                let ip = format!("192.168.{round}.{}", i % 250);
                *r = row(r.user_id(), r.connection_id(), Some(&ip), ConnectionState::Live);
                index.ip_changed(i, &ip);
            }
            index.compact_if_wasteful(&rows);
            assert!(index.ips.garbage() <= rows.len(), "round {round}");
            for text in ["ip:10.0.0.1", &format!("ip:192.168.{round}."), "ip:192.168.0.7"] {
                let filter = Filter::parse(text);
                let hits = index.matching(&filter, &rows);
                for (i, r) in rows.iter().enumerate() {
                    assert_eq!(hits.contains(i), filter.matches(r), "{text:?} on row {i}, round {round}");
                }
            }
        }
    }

    #[test]
    fn the_index_agrees_with_the_filter_row_by_row() {
        let rows = vec![
            row(
                "Alice",
                "AbC123456789012=",
                Some("10.0.0.1"),
                ConnectionState::Live,
            ),
            row("bob", "XyZ123456789012=", None, ConnectionState::Stale),
            row(
                "ÉMILE",
                "abc999999999999=",
                Some("::1"),
                ConnectionState::Unprobed,
            ),
            row(
                "carol\nstale",
                "q",
                Some("10.0.0.12"),
                ConnectionState::Expired,
            ),
        ];
        let mut index = SearchIndex::build(&rows);
        for text in [
            "",
            "a",
            "abc",
            "ALICE",
            "émile",
            "state:st",
            "state:live abc",
            "stale",
            "ip:10.0",
            "10.0.0.1",
            "user:b id:xyz",
            "nothing",
            "c\ns",
            "e",
        ] {
            let filter = Filter::parse(text);
            let hits = index.matching(&filter, &rows);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(hits.contains(i), filter.matches(r), "{text:?} on row {i}");
            }
        }
    }
}
