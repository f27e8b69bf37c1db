//! `--redact` for recordings: user ids, source IPs and user agents replaced by a short hash of
//! themselves, so a recording can be handed to others and still be filtered, sorted and
//! followed (the same user hashes the same every time), without saying who.

use super::recording::{Recorded, RecordedLine};
use crate::access_logs::LogLine;
use crate::model::ConnectionInfo;

/// `u-1a2b3c4d`: the first 8 hex digits of the value's SHA-1, with a prefix saying what it was.
pub fn hashed(prefix: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let digest = sha1_smol::Sha1::from(value.as_bytes()).digest().to_string();
    format!("{prefix}-{}", &digest[..8])
}

fn info(mut info: ConnectionInfo) -> ConnectionInfo {
    info.source_ip = info.source_ip.map(|ip| hashed("ip", &ip));
    info.user_agent = info.user_agent.map(|agent| hashed("ua", &agent));
    info
}

fn line(l: RecordedLine) -> RecordedLine {
    let parsed = LogLine::parse(l.at_ms, l.raw.clone());
    let Some(mut entry) = parsed.entry else {
        // A line that is not the JSON format wsdash reads may hold anything: not kept.
        return RecordedLine {
            at_ms: l.at_ms,
            raw: "(redacted)".into(),
        };
    };
    entry.source_ip = hashed("ip", &entry.source_ip);
    entry.user_agent = hashed("ua", &entry.user_agent);
    RecordedLine {
        at_ms: l.at_ms,
        raw: serde_json::to_string(&entry).unwrap_or_default(),
    }
}

pub fn redacted(data: Recorded) -> Recorded {
    match data {
        Recorded::Scanned {
            mut records,
            mut malformed,
            closed,
            expires,
        } => {
            for r in &mut records {
                r.user_id = hashed("u", &r.user_id);
            }
            for m in &mut malformed {
                m.user_id = m.user_id.as_deref().map(|u| hashed("u", u));
                m.raw = serde_json::json!("(redacted)");
            }
            Recorded::Scanned {
                records,
                malformed,
                closed,
                expires,
            }
        }
        Recorded::Changes { mut changes } => {
            use crate::store::changes::StoreChange;
            for change in &mut changes {
                let key = match change {
                    StoreChange::Put { key, item } => {
                        match item {
                            Ok(record) => record.user_id = hashed("u", &record.user_id),
                            Err(m) => {
                                m.user_id = m.user_id.as_deref().map(|u| hashed("u", u));
                                m.raw = serde_json::json!("(redacted)");
                            }
                        }
                        key
                    }
                    StoreChange::Removed { key } => key,
                };
                key.user_id = key.user_id.as_deref().map(|u| hashed("u", u));
            }
            Recorded::Changes { changes }
        }
        Recorded::Probed { mut answers } => {
            for a in &mut answers {
                a.record.user_id = hashed("u", &a.record.user_id);
                a.info = a.info.take().map(info);
            }
            Recorded::Probed { answers }
        }
        Recorded::Delivered { mut outcome } => {
            outcome.user_id = outcome.user_id.as_deref().map(|u| hashed("u", u));
            if outcome.target != outcome.connection_id {
                outcome.target = hashed("u", &outcome.target);
            }
            Recorded::Delivered { outcome }
        }
        Recorded::Handshakes { lines } => Recorded::Handshakes {
            lines: lines.into_iter().map(line).collect(),
        },
        Recorded::Orphans { mut orphans } => {
            for o in &mut orphans {
                o.source_ip = hashed("ip", &o.source_ip);
                o.user_agent = hashed("ua", &o.user_agent);
                o.info = info(o.info.clone());
            }
            Recorded::Orphans { orphans }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectionRecord;

    #[test]
    fn the_same_user_hashes_the_same_and_nobody_is_named() {
        let scanned = Recorded::Scanned {
            records: vec![
                ConnectionRecord::new("alice@example.com", "A1"),
                ConnectionRecord::new("alice@example.com", "A2"),
            ],
            malformed: vec![],
            closed: 0,
            expires: Default::default(),
        };
        let Recorded::Scanned { records, .. } = redacted(scanned) else {
            panic!("a scan stays a scan");
        };
        assert_eq!(records[0].user_id, records[1].user_id);
        assert!(records[0].user_id.starts_with("u-"));
        assert!(!records[0].user_id.contains("alice"));
        assert_eq!(records[0].connection_id, "A1");
    }
}
