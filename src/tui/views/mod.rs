//! Pure views: each draws from `&App` and never awaits or does I/O.

mod composer;
mod details;
mod dialog;
mod footer;
mod header;
mod help;
mod logs;
pub mod orphans;
mod outcomes;
pub mod storm;
mod table;

use super::app::{App, Overlay};
use super::layout::screen_areas;
use ratatui::style::Color;
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let areas = screen_areas(app, area);
    header::render(app, frame, areas.header);
    header::render_error(app, frame, areas.error);
    table::render(app, frame, areas.table);
    if areas.outcomes.height > 0 {
        outcomes::render(app, frame, areas.outcomes);
    }
    footer::render(app, frame, areas.footer);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(app.viewport.overlay_scroll, frame, area),
        Overlay::Details(view) => details::render(app, view, frame, area),
        Overlay::Composer(composer) => composer::render(app, composer, frame, area),
        Overlay::Confirm(confirm) => dialog::render_confirm(app, confirm, frame, area),
        Overlay::Progress(text) => dialog::render_progress(text, frame, area),
        Overlay::Summary(title, lines) => {
            dialog::render_summary(title, lines, app.viewport.overlay_scroll, "", frame, area)
        }
        Overlay::Storm => storm::render(app, frame, area),
        Overlay::Logs => logs::render(app, frame, area),
        Overlay::Orphans { selected } => {
            let (title, lines) = orphans::build(app, selected.as_deref());
            dialog::render_summary(&title, &lines, 0, "↑↓ select  d close it", frame, area)
        }
    }
}

/// `NO_COLOR` set and not empty (no-color.org): the dashboard draws without colours.
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// [`render`], then, with `no_color`, every colour taken out: what was marked by a background
/// (the selected row, a band) is shown reversed instead, and bold and the rest stay.
pub fn render_with(app: &App, frame: &mut Frame, no_color: bool) {
    render(app, frame);
    if no_color {
        for cell in frame.buffer_mut().content.iter_mut() {
            if cell.bg != Color::Reset {
                cell.modifier.insert(ratatui::style::Modifier::REVERSED);
            }
            cell.fg = Color::Reset;
            cell.bg = Color::Reset;
        }
    }
}

/// A scroll position that never runs past the last screenful of `total` rows.
pub fn clamp_scroll(scroll: usize, total: usize, shown: usize) -> u16 {
    scroll
        .min(total.saturating_sub(shown))
        .min(u16::MAX as usize) as u16
}

pub use super::layout::centered;
pub use help::line_count as help_line_count;

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
