//! `?`: every key, generated from the keymap.

use super::{centered, clamp_scroll};
use crate::tui::keymap::{help_lines, COMPOSER_KEYS, CONFIRM_KEYS, LOGS_KEYS, STORM_KEYS};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// How many lines the help has (for scrolling).
pub fn line_count() -> usize {
    help_lines().len()
        + COMPOSER_KEYS.len()
        + CONFIRM_KEYS.len()
        + STORM_KEYS.len()
        + LOGS_KEYS.len()
        + 5
}

pub fn render(scroll: usize, frame: &mut Frame, area: Rect) {
    let key = |k: &str, h: &str| {
        Line::from(vec![
            Span::styled(
                format!("{k:>14}  "),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(h.to_string()),
        ])
    };
    let mut lines: Vec<Line> = help_lines().into_iter().map(|(k, h)| key(k, h)).collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" push composer:"));
    lines.extend(COMPOSER_KEYS.iter().map(|(k, h)| key(k, h)));
    lines.push(Line::from(" confirmation dialogs:"));
    lines.extend(CONFIRM_KEYS.iter().map(|(k, h)| key(k, h)));
    lines.push(Line::from(" reconnect storms (f):"));
    lines.extend(STORM_KEYS.iter().map(|(k, h)| key(k, h)));
    lines.push(Line::from(" access log (l):"));
    lines.extend(LOGS_KEYS.iter().map(|(k, h)| key(k, h)));
    let popup = centered(area, 78, lines.len() as u16 + 2);
    let scroll = clamp_scroll(scroll, lines.len(), popup.height.saturating_sub(2) as usize);
    let title = if lines.len() + 2 > popup.height as usize {
        " keys (↑↓ PgUp PgDn scroll, Esc closes) "
    } else {
        " keys (Esc closes) "
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(title)),
        popup,
    );
}
