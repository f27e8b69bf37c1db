//! `f`: reconnect storms. Users whose connection id keeps changing, with what the access log
//! says about their handshakes (a run of 401s from the same client is a bad token retrying),
//! records appearing and vanishing, and the gateway's own metrics over 1 h, 3 h or 24 h. Drawn
//! from the state every frame, so it stays live while open.

use crate::access_logs::clients::{status_counts, HandshakeIndex};
use crate::gateway_metrics::TimeWindow;
use crate::model::{clock, clock_of_millis};
use crate::ops::churn::{sparkline, Flapping, FLAP_CONNECTIONS, FLAP_WINDOW};
use crate::text::printable;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::Frame;
use std::collections::BTreeMap;

/// The busiest this many flapping users are listed; a storm of thousands is summed up.
const LISTED_USERS: usize = 50;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let (title, lines) = build(app);
    super::dialog::render_summary(
        &title,
        &lines,
        app.viewport.overlay_scroll,
        "w: 1 h / 3 h / 24 h",
        frame,
        area,
    );
}

fn title(flapping: usize) -> String {
    format!(
        "Reconnect storms: {flapping} user(s) with {FLAP_CONNECTIONS}+ new connections in {} min",
        FLAP_WINDOW.whole_minutes()
    )
}

/// `|▁▂█ |  now 3, 41 in all`
fn spark_row(label: &str, values: &[u64]) -> String {
    format!(
        "  {label:<18} |{}|  now {}, {} in all",
        sparkline(values),
        values.last().copied().unwrap_or(0),
        values.iter().sum::<u64>()
    )
}

/// The view's title and lines, from the state as it is now.
pub fn build(app: &App) -> (String, Vec<String>) {
    let window = app.telemetry.storm_window;
    let (flapping_users, flapping) = app.telemetry.churn.busiest_flapping(app.now, LISTED_USERS);
    let (appeared, vanished) = app.telemetry.churn.over(app.now, window);
    let mut lines = vec![
        format!(
            "the last {} {} (w switches 1 h / 3 h / 24 h); records in the table:",
            window.label(),
            window.column_label()
        ),
        spark_row("new", &appeared),
        spark_row("vanished", &vanished),
        String::new(),
    ];
    if flapping.is_empty() {
        lines.push(format!(
            "no user got {FLAP_CONNECTIONS} or more new connections in the last {} minutes",
            FLAP_WINDOW.whole_minutes()
        ));
    }
    let index = match &app.telemetry.handshakes {
        Some(Ok(lines)) => Some(HandshakeIndex::new(lines)),
        _ => None,
    };
    for user in &flapping {
        lines.extend(flapping_lines(user, index.as_ref()));
    }
    if flapping_users > flapping.len() {
        lines.push(format!(
            "… and {} more users flapping (the busiest {LISTED_USERS} are listed)",
            flapping_users - flapping.len()
        ));
    }
    lines.push(String::new());
    lines.extend(refusal_lines(app));
    lines.extend(metric_lines(app, window));
    if !flapping.is_empty() {
        lines.push(String::new());
        lines.push(
            "Enter on a flapping user's row shows its handshakes and the refusals from its client"
                .into(),
        );
    }
    (title(flapping_users), lines)
}

/// The user, its connection ids, and (with an access log) its handshakes' statuses and the
/// refusals from the same client.
fn flapping_lines(user: &Flapping, index: Option<&HandshakeIndex>) -> Vec<String> {
    let ids: Vec<String> = user
        .connections
        .iter()
        .map(|(at, id)| format!("{} at {}", printable(id), clock(*at)))
        .collect();
    let mut out = vec![format!(
        "{}  {} connections: {}",
        printable(&user.user_id),
        user.connections.len(),
        ids.join(", ")
    )];
    let Some(index) = index else {
        return out;
    };
    let found = index.user(user.connections.iter().map(|(_, id)| id.as_str()));
    if found.own.is_empty() {
        out.push("    $connect: not in the access log yet".into());
        return out;
    }
    let mut line = format!("    $connect {}", status_counts(&found.own));
    if !found.refused.is_empty() {
        let sources: Vec<String> = found.clients.iter().map(|c| c.describe()).collect();
        let last = found.refused[found.refused.len() - 1];
        line.push_str(&format!(
            " · refused from its client ({}): {}{}; last at {}: {}",
            printable(&sources.join("; ")),
            status_counts(&found.refused),
            meaning(last.status),
            clock_of_millis(last.request_time_epoch),
            printable(last.error_message.as_deref().unwrap_or("-"))
        ));
    }
    out.push(line);
    out
}

fn meaning(status: u16) -> &'static str {
    match status {
        401 | 403 => " — a bad or expired token",
        429 => " — more than 500 new connections a second",
        _ => "",
    }
}

/// What the access log says about refused handshakes lately: by status, with the last reason
/// and the source address that retries most.
fn refusal_lines(app: &App) -> Vec<String> {
    let minutes = crate::tui::telemetry::HANDSHAKES_WINDOW.whole_minutes();
    let handshakes = match &app.telemetry.handshakes {
        None if app.env.access_logs.is_none() => {
            return vec![
                "refused handshakes: no access log for this environment (log_group in its config)"
                    .into(),
            ]
        }
        None => return vec!["refused handshakes: reading the access log…".into()],
        Some(Err(e)) => {
            return vec![format!(
                "refused handshakes: cannot read the access log: {}",
                printable(&e.to_string())
            )]
        }
        Some(Ok(lines)) => lines,
    };
    let refused: Vec<&crate::access_logs::AccessLogEntry> = handshakes
        .iter()
        .filter(|l| crate::access_logs::is_refused_handshake(l))
        .filter_map(|l| l.entry.as_ref())
        .collect();
    if refused.is_empty() {
        return vec![format!(
            "refused handshakes in the last {minutes} min: none ({} accepted)",
            handshakes.len()
        )];
    }
    let mut by_status: BTreeMap<u16, Vec<&crate::access_logs::AccessLogEntry>> = BTreeMap::new();
    for entry in &refused {
        by_status.entry(entry.status).or_default().push(entry);
    }
    let mut out = vec![format!(
        "refused handshakes in the last {minutes} min: {} of {} (from the access log)",
        refused.len(),
        handshakes.len()
    )];
    for (status, entries) in by_status {
        let mut sources: BTreeMap<String, usize> = BTreeMap::new();
        for entry in &entries {
            let source = format!("{}, {}", entry.source_ip, entry.user_agent);
            *sources.entry(source).or_default() += 1;
        }
        let (busiest, from_it) = sources
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(source, n)| (source.as_str(), *n))
            .unwrap_or_default();
        let reason = entries
            .last()
            .and_then(|e| e.error_message.as_deref())
            .unwrap_or_default();
        out.push(format!(
            "  {status} ×{}{}; {from_it} from {}; last reason: {}",
            entries.len(),
            meaning(status),
            printable(busiest),
            printable(reason)
        ));
    }
    out
}

/// The stage's CloudWatch metrics (AWS), or the emulator's counters (the demo).
fn metric_lines(app: &App, window: TimeWindow) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(source) = &app.env.metrics {
        lines.push(String::new());
        match &app.telemetry.cloudwatch {
            None => lines.push(format!("metrics ({source}): reading…")),
            Some((_, Err(e))) => {
                lines.push(format!("metrics ({source}): {}", printable(&e.to_string())))
            }
            Some((shown, Ok(series))) => {
                let reading = if *shown == window {
                    String::new()
                } else {
                    format!(" (reading the last {}…)", window.label())
                };
                lines.push(format!(
                    "the stage, the last {} {} ({source}){reading}:",
                    shown.label(),
                    shown.column_label()
                ));
                for s in series {
                    let values: Vec<u64> = s.values.iter().map(|v| v.round() as u64).collect();
                    lines.push(spark_row(&s.name, &values));
                }
            }
        }
    }
    if app.env.emulator_admin.is_some() {
        // The emulator's counters, under AWS/ApiGateway's metric names.
        lines.push(String::new());
        lines.push(format!(
            "the gateway, the last {} {} (the emulator's counters):",
            window.label(),
            window.column_label()
        ));
        for (name, values) in app.telemetry.emulator_minutes.over(app.now, window) {
            lines.push(spark_row(name, &values));
        }
    }
    lines
}
