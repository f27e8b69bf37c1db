//! The prompt at the bottom: `/` filters the table as you type, `:` runs a command.

use super::super::action::{Action, Effect};
use super::super::app::*;
use super::{pushing, update};
use crate::tui::visible::OnScreen;
use crossterm::event::{Event, KeyEvent};
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

pub(super) fn start_filter(app: &mut App) -> Vec<Effect> {
    app.prompt.kind = Prompt::Filter;
    app.prompt.input = Input::new(app.table.filter.clone());
    vec![]
}

pub(super) fn start_command(app: &mut App) -> Vec<Effect> {
    app.prompt.kind = Prompt::Command;
    app.prompt.input = Input::default();
    vec![]
}

pub(super) fn prompt_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    app.prompt.input.handle_event(&Event::Key(key));
    if app.prompt.kind == Prompt::Filter {
        app.table.filter = app.prompt.input.value().to_string();
        app.recompute_visible();
    }
    vec![]
}

pub(super) fn submit(app: &mut App) -> Vec<Effect> {
    let prompt = std::mem::replace(&mut app.prompt.kind, Prompt::None);
    match prompt {
        Prompt::Command => {
            let line = app.prompt.input.value().trim().to_string();
            run_command(app, &line)
        }
        Prompt::LogFilter => {
            let pattern = app.prompt.input.value().trim().to_string();
            super::logs::set_pattern(app, pattern)
        }
        Prompt::Filter | Prompt::None => vec![],
    }
}

fn run_command(app: &mut App, line: &str) -> Vec<Effect> {
    let (command, rest) = line
        .split_once(' ')
        .map(|(c, r)| (c, r.trim()))
        .unwrap_or((line, ""));
    match command {
        "" => vec![],
        "q" | "quit" => update(app, Action::Quit),
        "purge" => update(app, Action::OpenPurge),
        "help" => update(app, Action::ToggleHelp),
        "refresh" => update(app, Action::RefreshNow),
        "doctor" => {
            app.overlay =
                Overlay::Progress("Running doctor: API configuration, table, permissions…".into());
            vec![Effect::Doctor]
        }
        "rate" => match crate::flags::ceiling(rest) {
            Ok(crate::flags::Ceiling(ceiling)) => {
                app.telemetry.rate.ceiling = ceiling;
                app.telemetry.rate.current = ceiling;
                app.notice.status = Some(format!(
                    "API rate ceiling now {}",
                    app.telemetry.rate.describe()
                ));
                vec![Effect::SetRate(ceiling)]
            }
            Err(e) => {
                app.notice.status = Some(format!(":rate {rest}: {e}"));
                vec![]
            }
        },
        "readonly" => {
            // One way only: a dashboard that can switch read-only off is not read-only.
            app.notice.status = Some(if app.env.readonly {
                "read-only stays on: it cannot be switched off from inside (restart without --readonly / WSDASH_READONLY / readonly = true)".into()
            } else {
                app.env.readonly = true;
                "read-only on: mutations disabled until the dashboard is restarted".into()
            });
            vec![]
        }
        "filter" => {
            app.table.filter = rest.to_string();
            app.recompute_visible();
            vec![]
        }
        "sort" => {
            match SortColumn::ALL.iter().find(|c| c.name() == rest) {
                Some(column) => {
                    app.table.sort = *column;
                    app.recompute_visible();
                }
                None => {
                    app.notice.status = Some(format!(
                        "unknown column {rest:?}: {}",
                        SortColumn::ALL
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
            vec![]
        }
        "push" => pushing::push_command(app, rest),
        "env" if rest.is_empty() => {
            app.notice.status = Some(format!("usage: :env NAME (now on {})", app.env.name));
            vec![]
        }
        "env" => {
            app.notice.status = Some(format!("opening environment {rest}…"));
            vec![Effect::SwitchEnvironment(rest.to_string())]
        }
        other => {
            app.notice.status = Some(format!("unknown command :{other} (try :push USER JSON, :purge, :doctor, :env NAME, :readonly, :sort COL, :filter TEXT, :q)"));
            vec![]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::app_with;
    use super::*;

    #[test]
    fn rate_sets_the_ceiling_and_bad_input_changes_nothing() {
        let mut app = app_with(&[]);
        assert_eq!(
            run_command(&mut app, "rate 50"),
            [Effect::SetRate(Some(50.0))]
        );
        assert_eq!(app.telemetry.rate.ceiling, Some(50.0));
        assert!(run_command(&mut app, "rate fast").is_empty());
        assert_eq!(app.telemetry.rate.ceiling, Some(50.0));
        assert!(app
            .notice
            .status
            .as_deref()
            .is_some_and(|s| s.contains(":rate fast")));
    }

    #[test]
    fn read_only_cannot_be_switched_off_from_inside() {
        let mut app = app_with(&[("alice", "A1")]);
        run_command(&mut app, "readonly");
        assert!(app.env.readonly);
        run_command(&mut app, "readonly");
        assert!(app.env.readonly);
        assert!(
            run_command(&mut app, "push alice").is_empty(),
            "pushes are refused"
        );
    }

    #[test]
    fn the_filter_follows_each_keystroke() {
        let mut app = app_with(&[("alice", "A1"), ("bob", "B1")]);
        let _ = update(&mut app, Action::StartFilter);
        for c in "bo".chars() {
            let key = KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                crossterm::event::KeyModifiers::NONE,
            );
            let _ = update(&mut app, Action::PromptKey(key));
        }
        assert_eq!(app.table.filter, "bo");
        assert_eq!(app.table.visible.len(), 1);
    }
}
