//! `Enter`: the record as stored, the last GetConnection answer, and this connection's deliveries.

use super::centered;
use crate::model::{format_age, iso_millis};
use crate::text::printable;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(app: &App, connection_id: &str, frame: &mut Frame, area: Rect) {
    let popup = centered(area, 100, 32);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} (Esc closes) ", printable(connection_id)));
    let Some(row) = app.row(connection_id) else {
        frame.render_widget(
            Paragraph::new("this record is no longer in the store").block(block),
            popup,
        );
        return;
    };
    let mut lines = vec![Line::from("record as stored:")];
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
                printable(&row.record.user_id)
            )));
            lines.push(Line::from(format!(
                "  connection_id  {}",
                printable(&row.record.connection_id)
            )));
            lines.push(Line::from(format!(
                "  connected_at   {} ({} ago)",
                iso_millis(row.record.connected_at),
                format_age(app.now - row.record.connected_at)
            )));
        }
    }
    lines.push(Line::from(format!("state: {}", row.state.as_str())));
    lines.push(Line::from("last GetConnection:"));
    match (&row.info, row.probe_error(), row.probed_at) {
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
        match app
            .connection_log
            .as_ref()
            .filter(|log| log.connection_id == connection_id)
            .and_then(|log| log.lines.as_ref())
        {
            None => lines.push(Line::from("  reading…")),
            Some(Err(e)) => lines.push(Line::from(format!("  cannot read it: {}", printable(e)))),
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
