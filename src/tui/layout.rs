//! Where each panel goes on a screen of a given size. The views draw into these areas and
//! `update` pages by the table's real height, so both always agree on the layout.

use super::app::{App, Overlay};
use ratatui::layout::{Constraint, Layout, Rect};

/// Below this height the outcomes panel gives its room to the table.
pub const OUTCOMES_MIN_HEIGHT: u16 = 24;
const OUTCOMES_HEIGHT: u16 = 10;
const HEADER_HEIGHT: u16 = 3;
/// An error gets at most this many wrapped lines; the details are in the log.
const ERROR_MAX_LINES: u16 = 4;
/// The table's borders and its column header.
const TABLE_CHROME: u16 = 3;

pub struct ScreenAreas {
    pub header: Rect,
    pub error: Rect,
    pub table: Rect,
    pub outcomes: Rect,
    pub footer: Rect,
}

/// The error as the error band shows it.
pub fn error_text(app: &App) -> Option<String> {
    app.notice.error.as_ref().map(|e| format!(" ⚠ {e}"))
}

/// Rows the error band needs at this width: every character of the message stays readable.
pub fn error_height(app: &App, width: u16) -> u16 {
    let Some(text) = error_text(app) else {
        return 0;
    };
    let width = width.max(1) as usize;
    let chars = unicode_width::UnicodeWidthStr::width(text.as_str()).max(1);
    (chars.div_ceil(width) as u16).min(ERROR_MAX_LINES)
}

pub fn screen_areas(app: &App, area: Rect) -> ScreenAreas {
    let outcomes_height = if area.height >= OUTCOMES_MIN_HEIGHT {
        OUTCOMES_HEIGHT
    } else {
        0
    };
    let [header, error, table, outcomes, footer] = Layout::vertical([
        Constraint::Length(HEADER_HEIGHT),
        Constraint::Length(error_height(app, area.width)),
        Constraint::Min(3),
        Constraint::Length(outcomes_height),
        Constraint::Length(1),
    ])
    .areas(area);
    ScreenAreas {
        header,
        error,
        table,
        outcomes,
        footer,
    }
}

/// How many table rows one screen shows: what PgUp/PgDn move by.
pub fn table_rows(app: &App) -> usize {
    let (width, height) = app.viewport.size;
    let areas = screen_areas(app, Rect::new(0, 0, width, height));
    areas.table.height.saturating_sub(TABLE_CHROME).max(1) as usize
}

/// A summary popup: its rectangle, how many wrapped rows its lines take, and how many it shows
/// (one row is kept for the footer that says how to scroll).
pub fn summary_geometry(lines: &[String], area: Rect) -> (Rect, usize, usize) {
    let width = SUMMARY_WIDTH.min(area.width);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| {
            unicode_width::UnicodeWidthStr::width(l.as_str())
                .max(1)
                .div_ceil(inner_width)
        })
        .sum();
    let rect = centered(
        area,
        width,
        (rows as u16).saturating_add(3).min(area.height),
    );
    (rect, rows, rect.height.saturating_sub(3) as usize)
}

const SUMMARY_WIDTH: u16 = 110;

/// The furthest the overlay on screen can scroll, so scrolling back up answers at once.
pub fn overlay_max_scroll(app: &App) -> usize {
    let area = Rect::new(0, 0, app.viewport.size.0, app.viewport.size.1);
    match &app.overlay {
        Overlay::Summary(_, lines) => {
            let (_, rows, shown) = summary_geometry(lines, area);
            rows.saturating_sub(shown)
        }
        Overlay::Storm => {
            let (_, lines) = crate::tui::views::storm::build(app);
            let (_, rows, shown) = summary_geometry(&lines, area);
            rows.saturating_sub(shown)
        }
        Overlay::Logs => app.log_tail.lines.len(),
        Overlay::Help => {
            let total = crate::tui::views::help_line_count();
            total.saturating_sub(area.height.saturating_sub(2) as usize)
        }
        _ => 0,
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
