//! The `/` filter: words that must all match; `state:stale`, `user:`, `id:`, `ip:` qualify a word.

use super::app::RowView;

/// One word of the filter, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Any(String),
    State(String),
    User(String),
    Id(String),
    Ip(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter(Vec<Term>);

impl Filter {
    pub fn parse(text: &str) -> Self {
        Filter(
            text.split_whitespace()
                .map(|word| {
                    let lower = word.to_lowercase();
                    match lower.split_once(':') {
                        Some(("state", v)) => Term::State(v.into()),
                        Some(("user", v)) => Term::User(v.into()),
                        Some(("id", v)) => Term::Id(v.into()),
                        Some(("ip", v)) => Term::Ip(v.into()),
                        _ => Term::Any(lower),
                    }
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn terms(&self) -> &[Term] {
        &self.0
    }

    /// The definition, row by row. The table uses `search::SearchIndex`, which must agree.
    pub fn matches(&self, row: &RowView<'_>) -> bool {
        let ip = row.source_ip().unwrap_or_default();
        let has = |haystack: &str, needle: &str| haystack.to_lowercase().contains(needle);
        self.0.iter().all(|term| match term {
            Term::State(s) => row.state.as_str().starts_with(s.as_str()),
            Term::User(u) => has(row.user_id(), u),
            Term::Id(i) => has(row.connection_id(), i),
            Term::Ip(i) => has(&ip, i),
            Term::Any(a) => {
                has(row.user_id(), a)
                    || has(row.connection_id(), a)
                    || has(&ip, a)
                    || row.state.as_str() == a
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectionRecord;
    use crate::ops::classify::ConnectionState;

    #[test]
    fn words_and_qualifiers_all_have_to_match() {
        let mut owned =
            crate::tui::table::OwnedRow::new(ConnectionRecord::new("alice", "AbC123456789012="));
        owned.row.state = ConnectionState::Stale;
        let row = owned.view();
        assert!(Filter::parse("ali").matches(&row));
        assert!(Filter::parse("state:stale abc").matches(&row));
        assert!(!Filter::parse("state:live").matches(&row));
        assert!(!Filter::parse("alice bob").matches(&row));
        assert!(Filter::parse("").matches(&row));
        assert!(Filter::parse("stale").matches(&row));
    }
}
