//! Where we are and how things stand: environment, endpoint, table, counts, probe rate, errors.

use super::env_color;
use crate::ops::refresh::ConnectionState;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let env_style = Style::default()
        .fg(Color::Black)
        .bg(env_color(&app.env.color))
        .add_modifier(Modifier::BOLD);
    let mut first = vec![
        Span::styled(format!(" {} ", app.env.name), env_style),
        Span::raw(format!(" {}  table {}", app.env.endpoint, app.env.table)),
    ];
    if app.env.readonly {
        first.push(Span::styled(
            "  READ-ONLY ",
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    let count = |state: ConnectionState, color: Color| {
        Span::styled(
            format!("{} {}  ", state.as_str(), app.count(state)),
            Style::default().fg(color),
        )
    };
    let refreshed = app
        .last_refresh
        .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
        .unwrap_or_else(|| "never".into());
    let mut second = vec![
        count(ConnectionState::Live, Color::Green),
        count(ConnectionState::Stale, Color::Red),
        count(ConnectionState::Expired, Color::Magenta),
        count(ConnectionState::Unknown, Color::Yellow),
        count(ConnectionState::Malformed, Color::LightRed),
        count(ConnectionState::Unprobed, Color::Gray),
        Span::raw(format!(
            "│ probes {:.1}/s (limit {:.0}/s) │ refreshed {refreshed}, every {}s ",
            app.probe_rate(),
            app.env.probe_rate_limit,
            crate::tui::update::scan_interval(app).whole_seconds()
        )),
    ];
    if let Some(error) = &app.error {
        second.push(Span::styled(
            format!("│ {error}"),
            Style::default().fg(Color::White).bg(Color::Red),
        ));
    }
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}
