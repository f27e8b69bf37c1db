//! Pure views: each draws from `&App` and never awaits or does I/O.

mod composer;
mod details;
mod dialog;
mod footer;
mod header;
mod help;
mod outcomes;
mod table;

use super::app::{App, Overlay};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::Frame;

/// Below this height the outcomes panel gives its room to the table.
const OUTCOMES_MIN_HEIGHT: u16 = 24;

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let outcomes_height = if area.height >= OUTCOMES_MIN_HEIGHT {
        10
    } else {
        0
    };
    let [header_area, table_area, outcomes_area, footer_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(outcomes_height),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(app, frame, header_area);
    table::render(app, frame, table_area);
    if outcomes_height > 0 {
        outcomes::render(app, frame, outcomes_area);
    }
    footer::render(app, frame, footer_area);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(frame, area),
        Overlay::Details(id) => details::render(app, id, frame, area),
        Overlay::Composer(composer) => composer::render(app, composer, frame, area),
        Overlay::Confirm(confirm) => dialog::render_confirm(app, confirm, frame, area),
        Overlay::Progress(text) => dialog::render_progress(text, frame, area),
        Overlay::Summary(title, lines) => dialog::render_summary(title, lines, frame, area),
    }
}

/// A centred rectangle of at most `width` × `height` inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// The environment's colour by name; unknown names fall back to cyan.
pub fn env_color(name: &str) -> Color {
    match name.to_lowercase().as_str() {
        "red" => Color::Red,
        "yellow" => Color::Yellow,
        "green" => Color::Green,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "white" => Color::White,
        _ => Color::Cyan,
    }
}
