//! The bottom line: the filter or command being typed, else the last status and key hints.

use crate::tui::app::{App, Prompt};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let prefix = match app.prompt.kind {
        Prompt::Filter => "/",
        Prompt::LogFilter => "logs filter: ",
        Prompt::Command => ":",
        Prompt::None => {
            let text = app
                .notice
                .status
                .clone()
                .unwrap_or_else(|| "? help  / filter  : command  p push  d disconnect  x purge  Space mark  Enter details  q quit".into());
            frame.render_widget(
                Paragraph::new(text).style(Style::default().fg(Color::Gray)),
                area,
            );
            return;
        }
    };
    let width = area.width.saturating_sub(1) as usize;
    let scroll = app.prompt.input.visual_scroll(width);
    let value: String = app.prompt.input.value().chars().skip(scroll).collect();
    frame.render_widget(Paragraph::new(format!("{prefix}{value}")), area);
    let x = (app.prompt.input.visual_cursor().saturating_sub(scroll) + 1) as u16;
    frame.set_cursor_position(Position::new(
        area.x + x.min(area.width.saturating_sub(1)),
        area.y,
    ));
}
