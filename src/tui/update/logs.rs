//! The logs panel (`l`): the access log's newest lines matching a filter pattern, read again
//! every few seconds from where the last read ended, as `tail -f` would.

use super::super::action::Effect;
use super::super::app::*;
use crate::access_logs::LogLine;
use time::Duration;
use tui_input::Input;

/// How often an open panel asks for new lines.
const TAIL_EVERY: Duration = Duration::seconds(2);
/// How far back the panel starts.
const TAIL_LOOK_BACK: Duration = Duration::minutes(15);

/// Where a panel with nothing read yet starts, in epoch milliseconds.
fn look_back_start_ms(now: time::OffsetDateTime) -> i64 {
    ((now - TAIL_LOOK_BACK).unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn show(app: &mut App) -> Vec<Effect> {
    if app.env.access_logs.is_none() {
        app.notice.status = Some(format!(
            "no access log for environment {}: set log_group in its config (see README)",
            app.env.name
        ));
        return vec![];
    }
    app.overlay = Overlay::Logs;
    app.log_tail.requested = None;
    tail_if_due(app)
}

pub(super) fn start_filter(app: &mut App) -> Vec<Effect> {
    app.prompt.kind = Prompt::LogFilter;
    app.prompt.input = Input::new(app.log_tail.pattern.clone());
    vec![]
}

/// A new pattern: the panel starts again, from `TAIL_LOOK_BACK` ago.
pub(super) fn set_pattern(app: &mut App, pattern: String) -> Vec<Effect> {
    let generation = app.log_tail.generation + 1;
    app.log_tail = LogTail {
        pattern,
        generation,
        ..Default::default()
    };
    tail_if_due(app)
}

/// The next read, when the panel is open, nothing is in flight and the last read is old enough.
pub(super) fn tail_if_due(app: &mut App) -> Vec<Effect> {
    let open = matches!(app.overlay, Overlay::Logs);
    let tail = &mut app.log_tail;
    if !open
        || app.env.access_logs.is_none()
        || tail.in_flight
        || tail.requested.is_some_and(|t| app.now - t < TAIL_EVERY)
    {
        return vec![];
    }
    tail.in_flight = true;
    tail.requested = Some(app.now);
    let since_ms = tail.since_ms.unwrap_or_else(|| look_back_start_ms(app.now));
    vec![Effect::TailLogs {
        pattern: tail.pattern.clone(),
        since_ms,
        generation: tail.generation,
    }]
}

pub(super) fn tailed(
    app: &mut App,
    generation: u64,
    result: Result<Vec<LogLine>, crate::tui::failure::Failure>,
) -> Vec<Effect> {
    let tail = &mut app.log_tail;
    if generation != tail.generation {
        return vec![];
    }
    tail.in_flight = false;
    let lines = match result {
        Ok(lines) => lines,
        Err(e) => {
            tail.error = Some(e.to_string());
            return vec![];
        }
    };
    tail.error = None;
    // The next read starts at the newest line's millisecond, so lines logged in that same
    // millisecond are not missed; the ones already shown are dropped here.
    let seen_at_edge: Vec<&LogLine> = match tail.since_ms {
        Some(edge) => tail.lines.iter().filter(|l| l.at_ms == edge).collect(),
        None => vec![],
    };
    let fresh: Vec<LogLine> = lines
        .into_iter()
        .filter(|l| {
            !seen_at_edge
                .iter()
                .any(|s| s.at_ms == l.at_ms && s.raw == l.raw)
        })
        .collect();
    if let Some(newest) = fresh.iter().map(|l| l.at_ms).max() {
        tail.since_ms = Some(newest.max(tail.since_ms.unwrap_or(newest)));
    } else if tail.since_ms.is_none() {
        tail.since_ms = Some(look_back_start_ms(app.now));
    }
    if matches!(app.overlay, Overlay::Logs) && app.viewport.overlay_scroll > 0 {
        // Scrolled back: the lines being read stay where they are.
        app.viewport.overlay_scroll += fresh.len();
    }
    tail.lines.extend(fresh);
    while tail.lines.len() > LOG_TAIL_LINES {
        tail.lines.pop_front();
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::super::app_with;
    use super::*;
    use crate::tui::action::Action;

    fn line(at_ms: i64, text: &str) -> LogLine {
        LogLine::parse(at_ms, text.to_string())
    }

    fn app_with_logs() -> App {
        let mut app = app_with(&[("alice", "A1")]);
        app.env.access_logs = Some("log group test".into());
        app
    }

    #[test]
    fn the_panel_follows_from_the_newest_line_without_repeating_it() {
        let mut app = app_with_logs();
        let effects = super::super::update(&mut app, Action::ShowLogs);
        let [Effect::TailLogs {
            since_ms,
            generation,
            ..
        }] = effects.as_slice()
        else {
            panic!("one read: {effects:?}");
        };
        let look_back = (app.now.unix_timestamp_nanos() / 1_000_000) as i64 - since_ms;
        assert_eq!(look_back, TAIL_LOOK_BACK.whole_milliseconds() as i64);
        tailed(
            &mut app,
            *generation,
            Ok(vec![line(10, "a"), line(20, "b")]),
        );
        assert!(
            tail_if_due(&mut app).is_empty(),
            "not again within {TAIL_EVERY}"
        );
        app.now += TAIL_EVERY;
        let effects = tail_if_due(&mut app);
        assert!(
            matches!(effects.as_slice(), [Effect::TailLogs { since_ms: 20, .. }]),
            "{effects:?}"
        );
        // The edge millisecond comes back with a line logged in it meanwhile.
        tailed(
            &mut app,
            0,
            Ok(vec![line(20, "b"), line(20, "c"), line(30, "d")]),
        );
        let texts: Vec<&str> = app.log_tail.lines.iter().map(|l| l.raw.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_new_pattern_starts_over_and_drops_answers_for_the_old_one() {
        let mut app = app_with_logs();
        let _ = super::super::update(&mut app, Action::ShowLogs);
        let effects = set_pattern(&mut app, "401".into());
        assert!(
            matches!(effects.as_slice(), [Effect::TailLogs { pattern, generation: 1, .. }] if pattern == "401"),
            "{effects:?}"
        );
        tailed(&mut app, 0, Ok(vec![line(10, "old pattern")]));
        assert!(app.log_tail.lines.is_empty());
        tailed(
            &mut app,
            1,
            Err(crate::tui::failure::Failure::Logs(
                crate::access_logs::LogsError::GroupNotFound("/aws/apigateway/abc/prod".into()),
            )),
        );
        assert_eq!(
            app.log_tail.error.as_deref(),
            Some("log group /aws/apigateway/abc/prod not found; check the environment's log_group and region")
        );
        tailed(&mut app, 1, Ok(vec![line(11, "401 line")]));
        assert_eq!(app.log_tail.lines.len(), 1);
        assert_eq!(app.log_tail.error, None);
    }

    #[test]
    fn without_an_access_log_the_panel_says_how_to_get_one() {
        let mut app = app_with(&[]);
        assert!(super::super::update(&mut app, Action::ShowLogs).is_empty());
        assert!(matches!(app.overlay, Overlay::None));
        assert!(app
            .notice
            .status
            .as_deref()
            .unwrap_or_default()
            .contains("log_group"));
    }
}
