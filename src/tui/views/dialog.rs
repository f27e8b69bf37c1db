//! Confirmations that say exactly what will happen, progress, and summaries.

use super::{centered, clamp_scroll};
use crate::model::iso_millis;
use crate::ops::purge::StaleReason;
use crate::text::printable;
use crate::tui::app::{App, Confirm};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

fn popup(frame: &mut Frame, area: Rect, title: String, lines: Vec<Line>, color: Color) {
    let width = 110.min(area.width);
    // Long lines wrap: count the rows they will take.
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let rect = centered(area, width, (rows as u16 + 2).min(area.height));
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(color))
        .title(title);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}

pub fn render_confirm(app: &App, confirm: &Confirm, frame: &mut Frame, area: Rect) {
    let max_rows = area.height.saturating_sub(8) as usize;
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let (title, mut lines) = match confirm {
        Confirm::Disconnect {
            connection_ids,
            delete_record,
        } => {
            let mut lines = vec![Line::styled(
                format!(
                    "Close {} connection(s) with DeleteConnection{} in {}:",
                    connection_ids.len(),
                    if *delete_record {
                        " AND delete their records"
                    } else {
                        ""
                    },
                    app.env.name
                ),
                bold,
            )];
            lines.extend(connection_ids.iter().take(max_rows).map(|id| {
                let user = app
                    .row(id)
                    .map(|r| printable(r.user_id()).into_owned())
                    .unwrap_or_default();
                Line::from(format!("  {}  {user}", printable(id)))
            }));
            lines.push(Line::from(format!(
                "r: {} deleting the records (conditionally, audited)",
                if *delete_record { "stop" } else { "also" }
            )));
            (" disconnect ".to_string(), lines)
        }
        Confirm::Purge(plan) => {
            let mut lines = vec![Line::styled(
                format!(
                    "Delete {} stale record(s) of {} checked ({} undecided, kept). Each is written to the audit log first,",
                    plan.stale.len(),
                    plan.checked,
                    plan.undecided.len()
                ),
                bold,
            )];
            lines.push(Line::from(
                "and deleted only if it still holds the same connection id:",
            ));
            lines.extend(plan.stale.iter().take(max_rows).map(|s| {
                let why = match s.reason {
                    StaleReason::Gone => "gone (410)",
                };
                Line::from(format!(
                    "  {:<14} {}  {}  {why}",
                    printable(&s.record.user_id),
                    printable(&s.record.connection_id),
                    iso_millis(s.record.connected_at)
                ))
            }));
            if plan.stale.len() > max_rows {
                lines.push(Line::from(format!(
                    "  … and {} more",
                    plan.stale.len() - max_rows
                )));
            }
            (" purge stale records ".to_string(), lines)
        }
    };
    lines.push(Line::styled(
        "y: do it   n/Esc: cancel",
        Style::default().fg(Color::Yellow),
    ));
    popup(frame, area, title, lines, Color::Red);
}

pub fn render_progress(text: &str, frame: &mut Frame, area: Rect) {
    popup(
        frame,
        area,
        " working ".into(),
        vec![Line::from(text.to_string())],
        Color::Yellow,
    );
}

/// A summary of any length: every line can be read by scrolling, none is cut off.
/// A scrolling box of lines; `keys` are the overlay's own keys, shown in its footer.
pub fn render_summary(
    title: &str,
    lines: &[String],
    scroll: usize,
    keys: &str,
    frame: &mut Frame,
    area: Rect,
) {
    let (rect, rows, shown) = crate::tui::layout::summary_geometry(lines, area);
    let scroll = clamp_scroll(scroll, rows, shown);
    let keys = if keys.is_empty() {
        String::new()
    } else {
        format!("{keys} · ")
    };
    let footer = if rows > shown {
        format!(
            "rows {}–{} of {rows} · ↑↓ PgUp PgDn g G scroll · {keys}Esc/Enter: close",
            scroll as usize + 1,
            (scroll as usize + shown).min(rows)
        )
    } else {
        format!("{keys}Esc/Enter: close")
    };
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Green))
        .title(format!(" {title} "));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [body, foot] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    let text: Vec<Line> = lines.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        body,
    );
    frame.render_widget(
        Paragraph::new(footer).style(Style::default().fg(Color::Yellow)),
        foot,
    );
}
