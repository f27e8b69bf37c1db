//! Where we are and how things stand: environment, endpoint, table, counts, probe rate, errors.

use super::env_color;
use crate::ops::classify::ConnectionState;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

fn percent(part: usize, whole: usize) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let env_style = Style::default()
        .fg(Color::Black)
        .bg(env_color(&app.env.color))
        .add_modifier(Modifier::BOLD);
    let mut first = vec![];
    if let Some(banner) = &app.env.replay {
        // A recorded session: never to be mistaken for the live one.
        first.push(Span::styled(
            format!(" REPLAY {banner} "),
            Style::default()
                .fg(Color::White)
                .bg(Color::Magenta)
                .add_modifier(Modifier::BOLD),
        ));
        first.push(Span::raw(" "));
    }
    first.extend([
        Span::styled(format!(" {} ", app.env.name), env_style),
        Span::raw(format!(" {}  table {}", app.env.endpoint, app.env.table)),
    ]);
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
    let data_age = data_age(app);
    let data_style = if app.scan.scan_failing {
        Style::default().fg(Color::Black).bg(Color::Yellow)
    } else {
        Style::default()
    };
    let coverage = app.probe_coverage();
    let estimate = app.table.stale_estimate();
    let mut second = vec![
        count(ConnectionState::Live, Color::Green),
        count(ConnectionState::Stale, Color::Red),
        count(ConnectionState::Expired, Color::Magenta),
        count(ConnectionState::Unknown, Color::Yellow),
        count(ConnectionState::Malformed, Color::LightRed),
        count(ConnectionState::Unprobed, Color::Gray),
        // Until every record is probed, the counts above are a partial picture: say how partial.
        Span::raw(match (coverage.probeable, coverage.oldest, &estimate) {
            (0, _, _) => "│ nothing to probe".to_string(),
            // While a big table is first swept, the estimate matters more than answer ages.
            (n, _, Some(_)) => format!("│ probed {:.0}% of {n} ", percent(coverage.probed, n)),
            (n, Some(oldest), None) => format!(
                "│ probed {:.0}% of {n}, oldest answer {} ago",
                percent(coverage.probed, n),
                crate::model::format_age(app.now - oldest)
            ),
            (n, None, None) => format!("│ probed 0% of {n}"),
        }),
    ];
    // A big table takes hours to sweep; a random sample answers "how bad is it" in seconds.
    if let Some(estimate) = estimate {
        second.push(Span::styled(
            format!("│ stale {}", estimate.describe()),
            Style::default().fg(Color::Red),
        ));
    }
    let mut third = vec![
        Span::raw(format!(
            "probes {:.1}/s, API rate {} │ ",
            app.probe_rate(),
            app.telemetry.rate.describe(),
        )),
        Span::styled(data_age, data_style),
        Span::raw(match &app.scan.following {
            // Changes arrive as they happen; the table is read in full only on `r`.
            Some(source) => format!(", following {source} "),
            None => format!(
                ", scan every {}s ",
                crate::tui::update::scan_interval(app).whole_seconds()
            ),
        }),
    ];
    if app.telemetry.rate.throttled {
        // Throttling slows production pushes too: the operator must see it.
        third.push(Span::styled(
            " THROTTLED (429): slowed down ",
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if let Some(Ok(orphans)) = &app.telemetry.orphans {
        if !orphans.is_empty() {
            // Open sockets no push reaches: `o` lists them.
            third.push(Span::styled(
                format!(" ORPHANS {} (o) ", orphans.len()),
                Style::default().fg(Color::Black).bg(Color::Magenta),
            ));
        }
    }
    if app.scan.scan_failing {
        third.push(Span::styled(
            " SCAN FAILING ",
            Style::default().fg(Color::White).bg(Color::Red),
        ));
    }
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(first),
            Line::from(second),
            Line::from(third),
        ]),
        area,
    );
}

/// "data from 00:44:11, 2m00s old": when the rows on screen were read, which stops moving
/// while scans fail.
fn data_age(app: &App) -> String {
    match app.scan.data_from {
        Some(t) => format!(
            "data from {}, {} old",
            crate::model::clock(t),
            crate::model::format_age(app.now - t)
        ),
        None => "no data yet".into(),
    }
}

/// The error band under the header: the whole message, wrapped, in the warning colour.
pub fn render_error(app: &App, frame: &mut Frame, area: Rect) {
    let Some(text) = crate::tui::layout::error_text(app) else {
        return;
    };
    if area.height == 0 {
        return;
    }
    frame.render_widget(
        Paragraph::new(text)
            .style(Style::default().fg(Color::White).bg(Color::Red))
            .wrap(Wrap { trim: false }),
        area,
    );
}
