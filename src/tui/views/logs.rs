//! `l`: the access log as it grows, newest at the bottom, filtered by a CloudWatch pattern.

use crate::access_logs::LogLine;
use crate::text::printable;
use crate::tui::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let popup = super::centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, popup);
    let tail = &app.log_tail;
    let source = app.env.access_logs.as_deref().unwrap_or("no access log");
    let filter = if tail.pattern.is_empty() {
        "all lines".to_string()
    } else {
        format!("matching {}", tail.pattern)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Green))
        .title(printable(&format!(" Access log ({source}), {filter} ")).into_owned());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [body, status, keys] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let shown = body.height as usize;
    let back = app.viewport.overlay_scroll.min(tail.lines.len());
    let end = tail.lines.len() - back;
    let start = end.saturating_sub(shown);
    let text: Vec<Line> = tail
        .lines
        .range(start..end)
        .map(|l| Line::from(printable(&panel_line(l)).into_owned()))
        .collect();
    let text =
        if text.is_empty() && tail.requested.is_some() && !tail.in_flight && tail.error.is_none() {
            vec![Line::from(
                "no lines in the last 15 minutes match; new ones appear here",
            )]
        } else {
            text
        };
    frame.render_widget(Paragraph::new(text), body);
    let (state, colour) = match (&tail.error, back) {
        (Some(e), _) => (
            format!(
                "cannot read the log: {}; the lines so far stay",
                printable(e)
            ),
            Color::Red,
        ),
        (None, 0) => (
            format!("following · {} lines", tail.lines.len()),
            Color::Gray,
        ),
        (None, back) => (
            format!("{back} lines back from the newest · G follows again"),
            Color::Yellow,
        ),
    };
    frame.render_widget(
        Paragraph::new(state).style(Style::default().fg(colour)),
        status,
    );
    frame.render_widget(
        Paragraph::new(
            "/ filter (words, \"phrases\", -exclusions; JSON patterns on AWS) · ↑↓ PgUp PgDn scroll · G follow · Esc close",
        )
        .style(Style::default().fg(Color::Yellow)),
        keys,
    );
}

/// `09:42:09 CONNECT $connect 401 Abc123= 127.0.0.1 swarm/1.0 (integration 401, 3 ms): reason`
fn panel_line(line: &LogLine) -> String {
    let Some(e) = &line.entry else {
        return line.raw.clone();
    };
    let clock = crate::model::clock_of_millis(line.at_ms);
    let integration = match (e.integration_status, e.integration_latency) {
        (Some(status), Some(ms)) => format!(" (integration {status}, {ms} ms)"),
        (Some(status), None) => format!(" (integration {status})"),
        _ => String::new(),
    };
    let error = e
        .error_message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    format!(
        "{clock} {:<10} {:<11} {} {} {} {}{integration}{error}",
        e.event_type, e.route_key, e.status, e.connection_id, e.source_ip, e.user_agent
    )
}
