//! Printing results: aligned tables for people, one stable JSON document for scripts.

use crate::model::{age_since, iso_millis};
use crate::ops::classify::{data_warning, is_expired, ConnectionState, ProbedRecord};
use crate::store::MalformedRecord;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Print rows as left-aligned columns. Every cell is made printable first: cells hold stored
/// values, and a stored value must not drive the operator's terminal.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| crate::text::printable(cell).into_owned())
                .collect()
        })
        .collect();
    let rows = &rows;
    // Columns as wide as the terminal shows them: a wide character takes two cells.
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.width());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let width = widths.get(i).copied().unwrap_or(0);
                format!("{c}{}", " ".repeat(width.saturating_sub(c.width())))
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(headers.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
    );
}

/// The documented record object of `--output json`.
pub fn record_json(probed: &ProbedRecord) -> Value {
    let info = probed.info.as_ref();
    json!({
        "user_id": probed.record.user_id,
        "connection_id": probed.record.connection_id,
        "connected_at": iso_millis(probed.record.connected_at),
        "state": probed.state.as_str(),
        "last_active_at": info.and_then(|i| i.last_active_at).map(iso_millis),
        "source_ip": info.and_then(|i| i.source_ip.clone()),
        "user_agent": info.and_then(|i| i.user_agent.clone()),
        "error": probed.error,
        "cause": probed.cause,
        "warning": data_warning(&probed.record, probed.state, OffsetDateTime::now_utc()),
    })
}

pub fn malformed_json(m: &MalformedRecord) -> Value {
    json!({
        "user_id": m.user_id,
        "connection_id": m.connection_id,
        "connected_at": null,
        "state": "malformed",
        "reason": m.reason,
        "item": m.raw,
    })
}

/// Records not probed: expired ones are known dead, the rest unprobed.
pub fn unprobed(records: Vec<crate::model::ConnectionRecord>) -> Vec<ProbedRecord> {
    let now = OffsetDateTime::now_utc();
    records
        .into_iter()
        .map(|record| ProbedRecord {
            state: if is_expired(record.connected_at, now) {
                ConnectionState::Expired
            } else {
                ConnectionState::Unprobed
            },
            record,
            info: None,
            error: None,
            cause: None,
        })
        .collect()
}

/// Rows the store keeps as closed (a soft-delete column false): said, never listed or probed.
pub fn note_closed(closed: usize) {
    if closed > 0 {
        eprintln!(
            "{closed} closed row(s) left out (their soft-delete column says the connection is gone)"
        );
    }
}

/// Records as a table or JSON. `expires` holds the stores' own expiry (Redis TTLs), by
/// connection id: a column (and an `expires_at` field) when any record has one.
pub fn print_records(
    records: &[ProbedRecord],
    malformed: &[MalformedRecord],
    expires: &std::collections::HashMap<String, OffsetDateTime>,
    json_output: bool,
) {
    if json_output {
        let mut all: Vec<Value> = records
            .iter()
            .map(|p| {
                let mut value = record_json(p);
                if let Some(at) = expires.get(&p.record.connection_id) {
                    value["expires_at"] = json!(iso_millis(*at));
                }
                value
            })
            .collect();
        all.extend(malformed.iter().map(malformed_json));
        print_json(&Value::Array(all));
        return;
    }
    let now = OffsetDateTime::now_utc();
    let mut rows: Vec<Vec<String>> = records
        .iter()
        .map(|p| {
            vec![
                p.record.user_id.clone(),
                p.record.connection_id.clone(),
                iso_millis(p.record.connected_at),
                age_since(now, p.record.connected_at),
                p.state.as_str().to_string(),
                data_warning(&p.record, p.state, now)
                    .or_else(|| p.error.clone())
                    .or_else(|| p.info.as_ref().and_then(|i| i.source_ip.clone()))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let with_expiry = !expires.is_empty();
    if with_expiry {
        for (row, p) in rows.iter_mut().zip(records) {
            let left = expires
                .get(&p.record.connection_id)
                .map(|at| crate::model::format_age(*at - now))
                .unwrap_or_else(|| "never".into());
            row.insert(4, left);
        }
    }
    rows.extend(malformed.iter().map(|m| {
        let mut row = vec![
            m.user_id.clone().unwrap_or_else(|| "?".into()),
            m.connection_id.clone().unwrap_or_else(|| "?".into()),
            String::new(),
            String::new(),
            "malformed".into(),
            m.reason.clone(),
        ];
        if with_expiry {
            row.insert(4, String::new());
        }
        row
    }));
    let mut headers = vec![
        "USER",
        "CONNECTION",
        "CONNECTED_AT",
        "AGE",
        "STATE",
        "DETAIL",
    ];
    if with_expiry {
        headers.insert(4, "EXPIRES IN");
    }
    print_table(&headers, &rows);
    eprintln!("{} record(s), {} malformed", records.len(), malformed.len());
}
