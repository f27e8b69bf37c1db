//! The filter's fast path: every searchable column of the table packed into one buffer each
//! (`tui::text_column`), so a keystroke over 1,000,000 rows is a few SIMD substring scans
//! instead of a million string comparisons scattered over the heap (DESIGN.md §6). The ids
//! are searched where the table keeps them (`tui::row_ids`, lower-cased a block at a time as
//! they are read); the source IPs and the states are kept here.

use super::filter::{Filter, Term};
use super::row_ids::RowIds;
use super::table::Row;
use super::text_column::{Case, TextColumn};
use crate::ops::classify::ConnectionState;

pub use super::text_column::BitSet;

/// The rows' searchable text beside their ids, kept in step with `Table::rows` by the table
/// code.
#[derive(Debug, Default, Clone)]
pub struct SearchIndex {
    /// Source IPs, lower-cased; each probe answer that changes one replaces the row's value.
    ips: TextColumn,
    /// Each row's state, packed: a state term reads 1 MB instead of touching every row.
    states: Vec<ConnectionState>,
}

impl SearchIndex {
    /// Index every row from scratch (after a scan changed the rows).
    pub fn build(rows: &[Row]) -> Self {
        SearchIndex {
            ips: TextColumn::build(rows.iter().map(source_ip), rows.len()),
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
        self.ips.push(&source_ip(row));
        self.states.push(row.state);
    }

    /// Mirror `rows.swap_remove(row)`.
    pub fn swap_remove(&mut self, row: usize) {
        self.ips.swap_remove(row);
        self.states.swap_remove(row);
    }

    /// Rebuild the IP column once replaced or removed values left garbage of half as many
    /// values as there are rows (the first sweep replaces every row's empty value): memory stays
    /// bounded however long a table is followed, at the cost of one copy of the column per half
    /// a table's worth of answers that changed an address.
    pub fn compact_if_wasteful(&mut self, rows: &[Row]) -> bool {
        let wasteful = self.ips.garbage() > (rows.len() / 2).max(1024);
        if wasteful {
            self.ips = self.ips.compacted();
        }
        wasteful
    }

    /// A probe changed row `row`'s source IP.
    pub fn ip_changed(&mut self, row: usize, ip: &str) {
        self.ips.replace(row, &ip.to_lowercase());
    }

    /// The rows (by position in `rows`) that `filter` lets through.
    pub fn matching(&mut self, filter: &Filter, rows: &[Row], ids: &RowIds) -> BitSet {
        if self.states.len() != rows.len() {
            *self = SearchIndex::build(rows);
        }
        let mut result: Option<BitSet> = None;
        for term in filter.terms() {
            let mut hits = BitSet::new(rows.len());
            match term {
                Term::User(u) => ids.users().mark_containing(u, Case::Folded, &mut hits),
                Term::Id(i) => ids
                    .connections()
                    .mark_containing(i, Case::Folded, &mut hits),
                Term::Ip(i) => self.ips.mark_containing(i, Case::Stored, &mut hits),
                Term::State(s) => mark_states(
                    &self.states,
                    |state| state.as_str().starts_with(s.as_str()),
                    &mut hits,
                ),
                Term::Any(a) => {
                    ids.users().mark_containing(a, Case::Folded, &mut hits);
                    // A word found in every user id still in question (`u`, `user-` as it is
                    // typed) leaves nothing for the other columns to add: their scans, most of
                    // such a keystroke's time at 1M rows, are skipped.
                    let settled = match &result {
                        Some(so_far) => hits.covers(so_far),
                        None => hits.is_full(rows.len()),
                    };
                    if !settled {
                        let mut more = BitSet::new(rows.len());
                        ids.connections()
                            .mark_containing(a, Case::Folded, &mut more);
                        self.ips.mark_containing(a, Case::Stored, &mut more);
                        mark_states(&self.states, |state| state.as_str() == a, &mut more);
                        hits.union(&more);
                    }
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
    row.source_ip().unwrap_or_default().to_lowercase()
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
    // A word of 64 rows at a time, without a branch per row: a state term over a million
    // rows is a pass over 1 MB.
    let mut wanted_by = [false; 256];
    for state in ConnectionState::ALL {
        wanted_by[state as usize] = wanted(state);
    }
    for (n, chunk) in states.chunks(64).enumerate() {
        let word = chunk.iter().enumerate().fold(0u64, |word, (j, state)| {
            word | (u64::from(wanted_by[*state as usize]) << j)
        });
        hits.set_word(n, word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnectionInfo, ConnectionRecord};
    use crate::tui::table::{OwnedRow, RowView};

    /// Rows with their ids, as a table holds them.
    #[derive(Default)]
    struct Rows {
        rows: Vec<Row>,
        ids: RowIds,
    }

    impl Rows {
        fn push(&mut self, user: &str, id: &str, ip: Option<&str>, state: ConnectionState) {
            let mut owned = OwnedRow::new(ConnectionRecord::new(user, id));
            owned.row.state = state;
            let info = ip.map(|ip| ConnectionInfo {
                source_ip: Some(ip.into()),
                ..Default::default()
            });
            owned.row.set_info(
                info.map(|info| {
                    crate::tui::compact::ProbedInfo::new(&info, &mut Default::default())
                }),
            );
            self.ids.push(&owned.user_id, &owned.connection_id);
            self.rows.push(owned.row);
        }

        fn swap_remove(&mut self, at: usize) {
            self.ids.swap_remove(at);
            self.rows.swap_remove(at);
        }

        fn view(&self, i: usize) -> RowView<'_> {
            RowView::new(
                &self.rows[i],
                self.ids.user_id(i),
                self.ids.connection_id(i),
            )
        }

        /// The fast path and the definition agree on every row.
        fn check(&self, index: &mut SearchIndex, text: &str) -> Result<(), String> {
            let filter = Filter::parse(text);
            let hits = index.matching(&filter, &self.rows, &self.ids);
            for i in 0..self.rows.len() {
                let row = self.view(i);
                if hits.contains(i) != filter.matches(&row) {
                    return Err(format!("{text:?} on row {i}: {:?}", row.record()));
                }
            }
            Ok(())
        }
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
            let mut rows = Rows::default();
            for (user, id, ip, state) in &table {
                rows.push(user, id, ip.as_deref(), ConnectionState::ALL[*state]);
            }
            let mut index = SearchIndex::build(&rows.rows);
            proptest::prop_assert_eq!(rows.check(&mut index, &text), Ok(()));
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
            let mut rows = Rows::default();
            for (user, id, state) in &table {
                rows.push(user, id, None, ConnectionState::ALL[*state]);
            }
            let mut index = SearchIndex::build(&rows.rows);
            for (remove, at, value) in steps {
                if remove && !rows.rows.is_empty() {
                    let at = at % rows.rows.len();
                    index.swap_remove(at);
                    rows.swap_remove(at);
                } else {
                    rows.push(&value, &value.to_uppercase(), None, ConnectionState::Live);
                    index.push(&rows.rows[rows.rows.len() - 1]);
                }
                index.compact_if_wasteful(&rows.rows);
                rows.ids.compact_if_wasteful();
            }
            proptest::prop_assert_eq!(rows.check(&mut index, &text), Ok(()));
        }
    }

    #[test]
    fn a_changed_address_is_found_by_the_new_one_only_and_garbage_is_compacted() {
        let mut rows = Rows::default();
        for i in 0..2000 {
            rows.push(
                &format!("u{i}"),
                &format!("C{i}"),
                Some("10.0.0.1"),
                ConnectionState::Live,
            );
        }
        let mut index = SearchIndex::build(&rows.rows);
        for round in 0..3 {
            for i in 0..rows.rows.len() {
                let ip = format!("192.168.{round}.{}", i % 250);
                let info = ConnectionInfo {
                    source_ip: Some(ip.clone()),
                    ..Default::default()
                };
                rows.rows[i].set_info(Some(crate::tui::compact::ProbedInfo::new(
                    &info,
                    &mut Default::default(),
                )));
                index.ip_changed(i, &ip);
            }
            index.compact_if_wasteful(&rows.rows);
            assert!(index.ips.garbage() <= rows.rows.len(), "round {round}");
            for text in [
                "ip:10.0.0.1",
                &format!("ip:192.168.{round}."),
                "ip:192.168.0.7",
            ] {
                assert_eq!(rows.check(&mut index, text), Ok(()), "round {round}");
            }
        }
    }

    #[test]
    fn a_word_in_every_user_id_in_question_settles_the_term_and_any_other_word_still_looks_everywhere(
    ) {
        let mut rows = Rows::default();
        rows.push("user-1", "Aa1=", Some("10.0.0.1"), ConnectionState::Live);
        rows.push("user-2", "Bb2=", None, ConnectionState::Stale);
        rows.push(
            "user-3",
            "user-in-id",
            Some("10.0.0.3"),
            ConnectionState::Live,
        );
        rows.push("admin", "Cc3=", Some("10.0.0.4"), ConnectionState::Live);
        let mut index = SearchIndex::build(&rows.rows);
        // `user` is in every live row's user id but one: the connection id and the address
        // are still searched for the rest, and a state term before it narrows what is in
        // question.
        for text in [
            "user",
            "state:live user",
            "state:stale user",
            "u",
            "10.0.0",
            "state:live 10.0.0",
            "cc3",
            "state:live user-",
        ] {
            assert_eq!(rows.check(&mut index, text), Ok(()), "{text}");
        }
        let hits = index.matching(&Filter::parse("state:stale user"), &rows.rows, &rows.ids);
        assert!(hits.contains(1) && !hits.contains(0) && !hits.contains(3));
    }

    #[test]
    fn the_index_agrees_with_the_filter_row_by_row() {
        let mut rows = Rows::default();
        rows.push(
            "Alice",
            "AbC123456789012=",
            Some("10.0.0.1"),
            ConnectionState::Live,
        );
        rows.push("bob", "XyZ123456789012=", None, ConnectionState::Stale);
        rows.push(
            "ÉMILE",
            "abc999999999999=",
            Some("::1"),
            ConnectionState::Unprobed,
        );
        rows.push(
            "carol\nstale",
            "q",
            Some("10.0.0.12"),
            ConnectionState::Expired,
        );
        let mut index = SearchIndex::build(&rows.rows);
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
            assert_eq!(rows.check(&mut index, text), Ok(()));
        }
    }
}
