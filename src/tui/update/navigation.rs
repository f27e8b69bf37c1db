//! Moving through the table and the overlays: the cursor, pages, marks, sort, details, help.

use super::super::action::Effect;
use super::super::app::*;
use super::super::layout::table_rows;
use crate::tui::app::Overlay;
use crate::tui::visible::OnScreen;

pub(super) fn resize(app: &mut App, width: u16, height: u16) -> Vec<Effect> {
    app.viewport.size = (width, height);
    app.keep_selection_visible();
    vec![]
}

/// A click on screen row `y`: the table row drawn there is selected (the table's border and
/// header take its first two lines); a click anywhere else does nothing.
pub(super) fn click_row(app: &mut App, y: u16) -> Vec<Effect> {
    if !matches!(app.overlay, Overlay::None) {
        return vec![];
    }
    let (width, height) = app.viewport.size;
    let table =
        crate::tui::layout::screen_areas(app, ratatui::layout::Rect::new(0, 0, width, height))
            .table;
    let first = table.y.saturating_add(2);
    let last = table.y.saturating_add(table.height).saturating_sub(1);
    if y < first || y >= last {
        return vec![];
    }
    let row = app.table.offset + usize::from(y - first);
    if row < app.table.visible.len() {
        app.table.selected = row;
        app.keep_selection_visible();
    }
    vec![]
}

/// `y`: the selected connection id, `Y`: the whole row as JSON, to the clipboard; the status
/// line says what was copied (and that the terminal must allow OSC 52).
pub(super) fn copy_selected(app: &mut App, as_json: bool) -> Vec<Effect> {
    let Some(row) = app.selected_row() else {
        app.notice.status = Some("nothing selected to copy".into());
        return vec![];
    };
    let text = if as_json {
        let mut value = serde_json::json!({
            "user_id": row.user_id(),
            "connection_id": row.connection_id(),
            "connected_at": crate::model::iso_millis(row.connected_at()),
            "state": row.state.as_str(),
        });
        if let Some(info) = row.info() {
            value["source_ip"] = serde_json::json!(info.source_ip.text());
            value["user_agent"] = serde_json::json!(info.user_agent.as_deref());
        }
        value.to_string()
    } else {
        row.connection_id().to_string()
    };
    app.notice.status = Some(format!(
        "copied {} to the clipboard (OSC 52: the terminal must allow it; in tmux, set-clipboard on)",
        if as_json { "the row as JSON" } else { "the connection id" }
    ));
    vec![Effect::CopyToClipboard(text)]
}

pub(super) fn scroll_overlay(app: &mut App, delta: isize) -> Vec<Effect> {
    if matches!(app.overlay, Overlay::Orphans { .. }) {
        return super::orphans::move_selection(app, delta);
    }
    let max = crate::tui::layout::overlay_max_scroll(app) as isize;
    app.viewport.overlay_scroll = (app.viewport.overlay_scroll as isize)
        .saturating_add(delta)
        .clamp(0, max) as usize;
    vec![]
}

pub(super) fn toggle_mark(app: &mut App) -> Vec<Effect> {
    if let Some(id) = app.selected_row().map(|r| r.key().to_string()) {
        if !app.table.marked.remove(&id) {
            app.table.marked.insert(id);
        }
        move_by(app, 1);
    }
    vec![]
}

pub(super) fn open_details(app: &mut App) -> Vec<Effect> {
    let Some(id) = app.selected_row().map(|r| r.key().to_string()) else {
        return vec![];
    };
    app.overlay = Overlay::Details(Box::new(DetailsView {
        connection_id: id.clone(),
        last_seen: app.selected_row().map(|row| (row.to_owned_row(), app.now)),
        log: None,
    }));
    super::refresh::request_connection_log(app, id)
}

pub(super) fn toggle_help(app: &mut App) -> Vec<Effect> {
    app.overlay = match app.overlay {
        Overlay::Help => Overlay::None,
        _ => Overlay::Help,
    };
    vec![]
}

/// Esc: close the prompt, else the overlay, else clear the filter.
pub(super) fn back(app: &mut App) -> Vec<Effect> {
    if app.prompt.kind != Prompt::None {
        app.prompt.kind = Prompt::None;
    } else if matches!(app.overlay, Overlay::None) {
        if !app.table.filter.is_empty() {
            app.table.filter.clear();
            app.recompute_visible();
        }
    } else {
        app.overlay = Overlay::None;
    }
    vec![]
}

pub(super) fn cycle_sort(app: &mut App) -> Vec<Effect> {
    app.table.sort = app.table.sort.next();
    app.recompute_visible();
    app.notice.status = Some(format!("sorted by {}", app.table.sort.name()));
    vec![]
}

pub(super) fn reverse_sort(app: &mut App) -> Vec<Effect> {
    app.table.sort_descending = !app.table.sort_descending;
    app.recompute_visible();
    vec![]
}

pub(super) fn move_by(app: &mut App, delta: isize) -> Vec<Effect> {
    if let Overlay::Details(_) | Overlay::Help | Overlay::Summary(..) = app.overlay {
        return vec![];
    }
    let last = app.table.visible.len().saturating_sub(1) as isize;
    app.table.selected = (app.table.selected as isize)
        .saturating_add(delta)
        .clamp(0, last.max(0)) as usize;
    app.keep_selection_visible();
    vec![]
}

/// PgUp/PgDn: the view and the cursor both move by one screenful, as in a pager.
pub(super) fn page_by(app: &mut App, pages: isize) -> Vec<Effect> {
    let page = table_rows(app) as isize;
    let last_offset = app.table.visible.len().saturating_sub(page as usize) as isize;
    app.table.offset =
        (app.table.offset as isize + pages * page).clamp(0, last_offset.max(0)) as usize;
    move_by(app, pages * page)
}
#[cfg(test)]
mod tests {
    use super::super::{app_with, update};
    use super::*;
    use crate::tui::action::Action;

    #[test]
    fn a_page_moves_the_cursor_by_a_screenful_and_stops_at_the_ends() {
        let ids: Vec<String> = (0..100).map(|i| format!("C{i:03}")).collect();
        let records: Vec<(&str, &str)> = ids.iter().map(|id| ("u", id.as_str())).collect();
        let mut app = app_with(&records);
        let _ = update(&mut app, Action::Resize(120, 30));
        let page = table_rows(&app);
        let _ = update(&mut app, Action::PageDown);
        assert_eq!(app.table.selected, page);
        let _ = update(&mut app, Action::Bottom);
        assert_eq!(app.table.selected, 99);
        let _ = update(&mut app, Action::PageDown);
        assert_eq!(app.table.selected, 99);
        let _ = update(&mut app, Action::Top);
        assert_eq!((app.table.selected, app.table.offset), (0, 0));
    }

    #[test]
    fn escape_closes_the_prompt_then_the_overlay_then_clears_the_filter() {
        let mut app = app_with(&[("alice", "A1"), ("bob", "B1")]);
        app.table.filter = "alice".into();
        app.recompute_visible();
        app.overlay = Overlay::Help;
        app.prompt.kind = Prompt::Command;
        let _ = update(&mut app, Action::Back);
        assert_eq!(app.prompt.kind, Prompt::None);
        assert!(matches!(app.overlay, Overlay::Help));
        let _ = update(&mut app, Action::Back);
        assert!(matches!(app.overlay, Overlay::None));
        assert_eq!(app.table.visible.len(), 1);
        let _ = update(&mut app, Action::Back);
        assert_eq!(app.table.visible.len(), 2);
    }
}
