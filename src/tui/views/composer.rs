//! `p`: the push composer. One-line JSON editor with live validation and size against the limit.

use super::centered;
use crate::messages::MESSAGE_TYPES;
use crate::ops::push::{check_payload, MAX_MESSAGE_BYTES};
use crate::tui::app::{App, Composer, ComposerField, PushTargetKind};
use crate::tui::update::composer_targets;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn render(app: &App, composer: &Composer, frame: &mut Frame, area: Rect) {
    let popup = centered(area, 100, 12);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" push (Tab field · ←→ choose · Ctrl-P/N history · Enter send · Esc close) ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let focus = |field: ComposerField| {
        if composer.focus == field {
            Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::Yellow)
        } else {
            Style::default()
        }
    };
    let targets = composer_targets(app, composer);
    let target = match composer.target {
        PushTargetKind::Selected => format!(
            "selected connection ({})",
            crate::text::printable(targets.first().map(|t| t.target.as_str()).unwrap_or("none"))
        ),
        PushTargetKind::User => format!("user: {}▏", composer.user.value()),
        PushTargetKind::Marked => "marked rows".to_string(),
        PushTargetKind::Filtered => format!("all matching the filter {:?}", app.table.filter),
    };
    let types: Vec<Span> = MESSAGE_TYPES
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i == composer.message_type {
                Span::styled(
                    format!("[{t}] "),
                    Style::default().add_modifier(Modifier::REVERSED),
                )
            } else {
                Span::raw(format!(" {t}  "))
            }
        })
        .collect();
    let payload = composer.payload.value();
    let validation = match check_payload(payload.as_bytes(), true) {
        Ok(None) => Span::styled(
            format!(
                "✓ valid JSON · {} / {MAX_MESSAGE_BYTES} bytes",
                payload.len()
            ),
            Style::default().fg(Color::Green),
        ),
        Ok(Some(warning)) => {
            Span::styled(format!("✓ {warning}"), Style::default().fg(Color::Yellow))
        }
        Err(e) => Span::styled(format!("✗ {e}"), Style::default().fg(Color::Red)),
    };
    let width = inner.width.saturating_sub(11) as usize;
    let scroll = composer.payload.visual_scroll(width);
    let visible: String = payload.chars().skip(scroll).take(width).collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled("target   ", focus(ComposerField::Target)),
            Span::raw(format!("◀ {target} ▶")),
        ]),
        Line::from(format!("         → {} connection(s)", targets.len())),
        Line::from(""),
        Line::from(
            [
                vec![Span::styled("type     ", focus(ComposerField::Type))],
                types,
            ]
            .concat(),
        ),
        Line::from(""),
        Line::from(vec![
            Span::styled("payload  ", focus(ComposerField::Payload)),
            Span::raw(format!(" {visible}")),
        ]),
        Line::from(vec![Span::raw("         "), validation]),
    ];
    if let Some(i) = composer.recall {
        lines.push(Line::from(format!(
            "         recalled payload {} of {}",
            i + 1,
            app.outcomes.sent_history.len()
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    if composer.focus == ComposerField::Payload {
        let x = inner.x + 10 + (composer.payload.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            inner.y + 5,
        ));
    }
}
