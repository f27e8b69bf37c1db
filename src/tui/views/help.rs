//! `?`: every key, generated from the keymap.

use super::centered;
use crate::tui::keymap::{help_lines, COMPOSER_KEYS, CONFIRM_KEYS};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect) {
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
    let popup = centered(area, 78, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys (Esc closes) "),
        ),
        popup,
    );
}
