//! `Enter`: the record as stored, the last GetConnection answer, and this connection's deliveries.

use super::centered;
use crate::access_logs::clients::{refused_from, status_counts, ClientKey};
use crate::model::{format_age, iso_millis};
use crate::text::printable;
use crate::tui::app::{App, DetailsView};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(app: &App, view: &DetailsView, frame: &mut Frame, area: Rect) {
    let connection_id = view.connection_id.as_str();
    let popup = centered(area, 110, 44);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} (Esc closes) ", printable(connection_id)));
    let last_seen = view
        .last_seen
        .as_ref()
        .filter(|(row, _)| row.connection_id == connection_id);
    let (row, gone_since) = match (app.row(connection_id), last_seen) {
        (Some(row), _) => (row, None),
        (None, Some((row, at))) => (row.view(), Some(*at)),
        (None, None) => {
            frame.render_widget(
                Paragraph::new("this record is no longer in the store").block(block),
                popup,
            );
            return;
        }
    };
    let mut lines = match gone_since {
        None => vec![Line::from("record as stored:")],
        Some(at) => vec![Line::from(format!(
            "record as last seen at {} (it has left the store since):",
            iso_millis(at)
        ))],
    };
    match row.malformed() {
        Some(m) => {
            lines.push(Line::from(format!("  malformed: {}", printable(&m.reason))));
            lines.push(Line::from(format!(
                "  item: {}",
                printable(&m.raw.to_string())
            )));
        }
        None => {
            lines.push(Line::from(format!(
                "  user_id        {}",
                printable(row.user_id())
            )));
            lines.push(Line::from(format!(
                "  connection_id  {}",
                printable(row.connection_id())
            )));
            lines.push(Line::from(format!(
                "  connected_at   {} ({} ago)",
                iso_millis(row.connected_at()),
                format_age(app.now - row.connected_at())
            )));
            if let Some(at) = row.expires_at() {
                lines.push(Line::from(format!(
                    "  expires        {} (in {}: the store's TTL)",
                    iso_millis(at),
                    format_age(at - app.now)
                )));
            }
        }
    }
    lines.push(Line::from(format!("state: {}", row.state.as_str())));
    lines.push(Line::from("last GetConnection:"));
    match (
        row.info().map(|i| i.to_info()),
        row.probe_error(),
        row.probed_at(),
    ) {
        (_, _, None) => lines.push(Line::from("  not probed yet")),
        (_, Some(error), Some(at)) => lines.push(Line::from(format!(
            "  {} (at {})",
            printable(error),
            iso_millis(at)
        ))),
        (Some(info), None, Some(at)) => {
            let time =
                |t: Option<time::OffsetDateTime>| t.map(iso_millis).unwrap_or_else(|| "-".into());
            lines.push(Line::from(format!("  at             {}", iso_millis(at))));
            lines.push(Line::from(format!(
                "  ConnectedAt    {}",
                time(info.connected_at)
            )));
            lines.push(Line::from(format!(
                "  LastActiveAt   {}",
                time(info.last_active_at)
            )));
            lines.push(Line::from(format!(
                "  SourceIp       {}",
                printable(info.source_ip.as_deref().unwrap_or_default())
            )));
            lines.push(Line::from(format!(
                "  UserAgent      {}",
                printable(info.user_agent.as_deref().unwrap_or_default())
            )));
        }
        (None, None, Some(at)) => {
            lines.push(Line::from(format!("  Gone (410) at {}", iso_millis(at))))
        }
    }
    if let Some(source) = &app.env.access_logs {
        lines.push(Line::from(format!("access log ({}):", printable(source))));
        match view
            .log
            .as_ref()
            .filter(|log| log.connection_id == connection_id)
            .and_then(|log| log.lines.as_ref())
        {
            None => lines.push(Line::from("  reading…")),
            Some(Err(e)) => lines.push(Line::from(format!(
                "  cannot read it: {}",
                printable(&e.to_string())
            ))),
            Some(Ok(found)) if found.is_empty() => {
                lines.push(Line::from("  no lines for this connection yet"))
            }
            Some(Ok(found)) => {
                // The newest few: the handshake and the last events matter most.
                for line in found.iter().skip(found.len().saturating_sub(8)) {
                    lines.push(Line::from(format!("  {}", printable(&line.summary()))));
                }
            }
        }
    }
    lines.extend(client_handshake_lines(app, view, &row));
    lines.push(Line::from(format!("deliveries ({}):", row.history().len())));
    if row.history().len() == 0 {
        lines.push(Line::from("  none yet"));
    }
    for o in row.history() {
        lines.push(Line::from(format!(
            "  {}  {:<10} {:>6.1} ms  {}",
            iso_millis(o.at),
            o.class.as_str(),
            o.latency_ms,
            printable(o.error.as_deref().unwrap_or_default())
        )));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        popup,
    );
}

/// The handshakes of this connection's client (its source address and user agent, from its
/// own `$connect` line or from GetConnection): a run of refusals next to a live record is a
/// second tab or an old token still retrying.
fn client_handshake_lines(
    app: &App,
    view: &DetailsView,
    row: &crate::tui::app::RowView<'_>,
) -> Vec<Line<'static>> {
    let Some(Ok(handshakes)) = &app.telemetry.handshakes else {
        return vec![];
    };
    // Where its own $connect came from: the log line says, else GetConnection's Identity.
    let own_line = view
        .log
        .as_ref()
        .filter(|log| log.connection_id == row.connection_id())
        .and_then(|log| log.lines.as_ref())
        .and_then(|lines| lines.as_ref().ok())
        .into_iter()
        .flatten()
        .chain(handshakes.iter())
        .filter_map(|l| l.entry.as_ref())
        .filter(|e| e.event_type == "CONNECT" && e.connection_id == row.connection_id())
        .find_map(ClientKey::of);
    let client = own_line.or_else(|| {
        let info = row.info()?;
        Some(ClientKey {
            source_ip: info.source_ip.text()?,
            user_agent: info.user_agent.as_deref().unwrap_or_default().to_string(),
        })
    });
    let Some(client) = client else {
        return vec![];
    };
    let minutes = crate::tui::telemetry::HANDSHAKES_WINDOW.whole_minutes();
    let refused = refused_from(handshakes, std::slice::from_ref(&client));
    let mut lines = vec![Line::from(format!(
        "refused handshakes from this client ({}), last {minutes} min: {}",
        printable(&client.describe()),
        if refused.is_empty() {
            "none".to_string()
        } else {
            status_counts(&refused)
        }
    ))];
    for entry in refused.iter().skip(refused.len().saturating_sub(6)) {
        let at =
            time::OffsetDateTime::from_unix_timestamp(entry.request_time_epoch.div_euclid(1000))
                .map(iso_millis)
                .unwrap_or_default();
        lines.push(Line::from(format!(
            "  {at}  $connect {} {}: {}",
            entry.status,
            printable(&entry.connection_id),
            printable(entry.error_message.as_deref().unwrap_or("-"))
        )));
    }
    lines
}
