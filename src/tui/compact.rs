//! The compact pieces a row of the table is made of, so that 1,000,000 rows fit in the memory
//! budget of DESIGN.md §6: optional instants as one integer, a probe's answer without a heap
//! allocation of its own (source IPs as addresses, user agents shared between the rows that
//! have the same one).

use crate::model::ConnectionInfo;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use time::OffsetDateTime;

/// An optional instant in milliseconds since the epoch (8 bytes; `Option<OffsetDateTime>` is 16).
/// Instants the table makes itself (probed at, highlighted until): milliseconds are plenty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(i64);

impl Millis {
    pub const NONE: Millis = Millis(i64::MIN);

    pub fn of(t: Option<OffsetDateTime>) -> Millis {
        t.map_or(Millis::NONE, |t| {
            Millis(
                (t.unix_timestamp_nanos() / 1_000_000).clamp(i64::MIN as i128 + 1, i64::MAX as i128)
                    as i64,
            )
        })
    }

    pub fn get(self) -> Option<OffsetDateTime> {
        if self == Millis::NONE {
            return None;
        }
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000).ok()
    }

    pub fn is_some(self) -> bool {
        self != Millis::NONE
    }
}

/// Where a probed client connected from: almost always an IP address (what API Gateway
/// reports), kept as one; anything else as the text it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceIp {
    None,
    Address(IpAddr),
    Text(Arc<str>),
}

impl SourceIp {
    /// The address as API Gateway writes it (`10.0.0.1`, `2001:db8::1`).
    pub fn text(&self) -> Option<String> {
        match self {
            SourceIp::None => None,
            SourceIp::Address(ip) => Some(ip.to_string()),
            SourceIp::Text(text) => Some(text.to_string()),
        }
    }
}

/// GetConnection's answer as a row keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbedInfo {
    pub connected_at: Millis,
    pub last_active_at: Millis,
    pub source_ip: SourceIp,
    pub user_agent: Option<Arc<str>>,
}

impl ProbedInfo {
    pub fn new(info: &ConnectionInfo, strings: &mut Interner) -> Self {
        let source_ip = match info.source_ip.as_deref() {
            None => SourceIp::None,
            Some(text) => match text.parse::<IpAddr>() {
                // Only when it writes back the same: the table shows what the gateway said.
                Ok(ip) if ip.to_string() == text => SourceIp::Address(ip),
                _ => SourceIp::Text(strings.intern(text)),
            },
        };
        ProbedInfo {
            connected_at: Millis::of(info.connected_at),
            last_active_at: Millis::of(info.last_active_at),
            source_ip,
            user_agent: info.user_agent.as_deref().map(|ua| strings.intern(ua)),
        }
    }

    /// The answer as the rest of wsdash speaks it.
    pub fn to_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            connected_at: self.connected_at.get(),
            last_active_at: self.last_active_at.get(),
            source_ip: self.source_ip.text(),
            user_agent: self.user_agent.as_deref().map(str::to_string),
        }
    }

    pub fn last_active_at(&self) -> Option<OffsetDateTime> {
        self.last_active_at.get()
    }
}

/// One copy of each distinct text (user agents: a handful of browser builds across a million
/// clients). Texts no row uses any more are let go by `let_go_unused`, which the table calls
/// when it replaces its rows.
#[derive(Debug, Default)]
pub struct Interner {
    texts: HashSet<Arc<str>>,
}

impl Interner {
    pub fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(known) = self.texts.get(text) {
            return known.clone();
        }
        let text: Arc<str> = Arc::from(text);
        self.texts.insert(text.clone());
        text
    }

    /// Forget the texts held only here.
    pub fn let_go_unused(&mut self) {
        self.texts.retain(|t| Arc::strong_count(t) > 1);
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_keep_an_instant_to_the_millisecond_and_none_is_none() {
        let t = crate::model::now_utc_millis();
        assert_eq!(Millis::of(Some(t)).get(), Some(t));
        assert_eq!(Millis::of(None).get(), None);
        assert!(!Millis::NONE.is_some());
    }

    #[test]
    fn an_answer_comes_back_as_it_was_given() {
        let mut strings = Interner::default();
        for ip in ["10.0.0.1", "2001:db8::1", "not-an-ip", "010.0.0.1"] {
            let info = ConnectionInfo {
                connected_at: Some(crate::model::now_utc_millis()),
                last_active_at: None,
                source_ip: Some(ip.into()),
                user_agent: Some("Mozilla/5.0".into()),
            };
            assert_eq!(ProbedInfo::new(&info, &mut strings).to_info(), info, "{ip}");
        }
        assert!(matches!(
            ProbedInfo::new(
                &ConnectionInfo {
                    source_ip: Some("10.0.0.1".into()),
                    ..Default::default()
                },
                &mut strings
            )
            .source_ip,
            SourceIp::Address(_)
        ));
    }

    #[test]
    fn a_text_is_held_once_and_let_go_when_unused() {
        let mut strings = Interner::default();
        let a = strings.intern("Mozilla/5.0");
        let b = strings.intern("Mozilla/5.0");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(strings.len(), 1);
        drop((a, b));
        strings.let_go_unused();
        assert!(strings.is_empty());
    }
}
