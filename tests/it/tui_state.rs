//! The dashboard's state machine and every view, without a terminal: actions in, state and
//! effects out; views rendered into ratatui's TestBackend and compared with insta snapshots.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use time::macros::datetime;
use time::OffsetDateTime;
use wsdash::management::GatewayError;
use wsdash::model::{ConnectionInfo, ConnectionRecord, DeliveryClass, DeliveryOutcome};
use wsdash::ops::classify::ConnectionState;
use wsdash::ops::probe::ProbeResult;
use wsdash::ops::purge::{PurgePlan, PurgeReport, StaleReason, StaleRecord};
use wsdash::store::{MalformedRecord, StoreSnapshot};
use wsdash::tui::action::{Action, Effect};
use wsdash::tui::app::{App, EnvironmentInfo, Overlay};
use wsdash::tui::keymap::action_for;
use wsdash::tui::update::update;
use wsdash::tui::views::render;

const NOW: OffsetDateTime = datetime!(2026-11-24 10:30:00 UTC);

fn env(readonly: bool) -> EnvironmentInfo {
    EnvironmentInfo {
        name: "prod".into(),
        color: "red".into(),
        endpoint: "https://abc123.execute-api.eu-west-1.amazonaws.com/production".into(),
        table: "ws_connections".into(),
        readonly,
        api_rate: Some(50.0),
        emulator_admin: None,
        access_logs: None,
        metrics: None,
        client_page: None,
        replay: None,
    }
}

fn record(user: &str, id: &str, minutes_ago: i64) -> ConnectionRecord {
    ConnectionRecord {
        user_id: user.into(),
        connection_id: id.into(),
        connected_at: NOW - time::Duration::minutes(minutes_ago),
    }
}

fn info(idle_secs: i64) -> ConnectionInfo {
    ConnectionInfo {
        connected_at: Some(NOW - time::Duration::minutes(5)),
        last_active_at: Some(NOW - time::Duration::seconds(idle_secs)),
        source_ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
    }
}

fn outcome(user: &str, id: &str, class: DeliveryClass) -> DeliveryOutcome {
    DeliveryOutcome {
        target: user.into(),
        user_id: Some(user.into()),
        connection_id: id.into(),
        class,
        status: Some(if class == DeliveryClass::Delivered {
            200
        } else {
            410
        }),
        latency_ms: 12.5,
        attempts: 1,
        at: NOW,
        error: None,
        cause: None,
        record_deleted: class == DeliveryClass::Gone,
    }
}

/// A dashboard with a scan and a probe applied: alice and bob live, carol stale, dave expired,
/// erin unknown, one malformed item.
fn loaded(readonly: bool) -> App {
    let mut app = App::new(env(readonly), NOW);
    let _ = update(&mut app, Action::Resize(120, 40));
    let _ = update(&mut app, Action::Tick(NOW));
    let _ = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records: vec![
                record("alice", "AAAAAAAAAAAAAAA=", 5),
                record("bob", "BBBBBBBBBBBBBBB=", 62),
                record("carol", "CCCCCCCCCCCCCCC=", 30),
                record("dave", "DDDDDDDDDDDDDDD=", 180),
                record("erin", "EEEEEEEEEEEEEEE=", 1),
            ],
            malformed: vec![MalformedRecord {
                raw: serde_json::json!({"user_id": {"S": "frank"}}),
                user_id: Some("frank".into()),
                connection_id: None,
                reason: "missing connection_id".into(),
            }],
            ..Default::default()
        })),
    );
    let _ = update(
        &mut app,
        Action::Probed(vec![
            ProbeResult {
                record: record("alice", "AAAAAAAAAAAAAAA=", 5),
                answer: Ok(info(4)),
            },
            ProbeResult {
                record: record("bob", "BBBBBBBBBBBBBBB=", 62),
                answer: Ok(info(530)),
            },
            ProbeResult {
                record: record("carol", "CCCCCCCCCCCCCCC=", 30),
                answer: Err(GatewayError::Gone),
            },
            ProbeResult {
                record: record("erin", "EEEEEEEEEEEEEEE=", 1),
                answer: Err(GatewayError::Throttled("Rate exceeded".into())),
            },
        ]),
    );
    let _ = update(
        &mut app,
        Action::Delivered(outcome(
            "alice",
            "AAAAAAAAAAAAAAA=",
            DeliveryClass::Delivered,
        )),
    );
    let _ = update(&mut app, Action::Tick(NOW + time::Duration::seconds(2)));
    app.now = NOW;
    app.notice.error = None;
    app
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Press keys through the keymap, as the runtime does; returns the effects.
fn press(app: &mut App, keys: &[KeyCode]) -> Vec<Effect> {
    let mut effects = Vec::new();
    for code in keys {
        if let Some(action) = action_for(app, key(*code)) {
            effects.extend(update(app, action));
        }
    }
    effects
}

fn state_of(app: &App, user: &str) -> ConnectionState {
    app.table
        .iter()
        .find(|r| r.user_id() == user)
        .map(|r| r.state)
        .expect(user)
}

fn screen(app: &App, width: u16, height: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| render(app, f)).expect("draw");
    terminal.backend().clone()
}

// ---------- state machine ----------

#[test]
fn a_tick_asks_for_a_scan_and_a_scan_leads_to_probes() {
    let mut app = App::new(env(false), NOW);
    assert_eq!(update(&mut app, Action::Tick(NOW)), vec![Effect::Scan]);
    assert_eq!(
        update(&mut app, Action::Tick(NOW)),
        vec![],
        "no second scan while one runs"
    );
    let effects = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records: vec![record("old", "O", 50), record("new", "N", 1)],
            malformed: vec![],
            ..Default::default()
        })),
    );
    match effects.as_slice() {
        [Effect::Probe(records)] => {
            let mut users: Vec<&str> = records.iter().map(|r| r.user_id.as_str()).collect();
            // Never-probed records go in random sample order (see the estimate test below).
            users.sort();
            assert_eq!(users, ["new", "old"]);
        }
        other => panic!("expected one probe, got {other:?}"),
    }
}

/// A 20,000-record table where a seeded 23% are gone, probed 200 records at a time as the
/// dashboard asks, each probe answered with the truth. While the sweep is incomplete, the
/// header's estimate holds the true stale share within its interval; once every record has
/// been answered, the estimate gives way to the exact count.
#[test]
fn a_partial_sweep_estimates_the_stale_share_within_its_interval() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(26);
    let mut app = App::new(
        EnvironmentInfo {
            api_rate: Some(100.0),
            ..env(false)
        },
        NOW,
    );
    let _ = update(&mut app, Action::Resize(140, 40));
    let _ = update(&mut app, Action::Tick(NOW));
    let records: Vec<ConnectionRecord> = (0..20_000)
        .map(|i| {
            record(
                &format!("user-{i}"),
                &format!("{:016x}", rng.random::<u64>()),
                3,
            )
        })
        .collect();
    let gone: std::collections::HashSet<String> = records
        .iter()
        .filter(|_| rng.random_bool(0.23))
        .map(|r| r.connection_id.clone())
        .collect();
    let truth = gone.len() as f64 / records.len() as f64;
    let mut effects = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records,
            malformed: vec![],
            ..Default::default()
        })),
    );
    let mut probed = 0;
    let mut checked = 0;
    while let Some(Effect::Probe(batch)) = effects.pop() {
        probed += batch.len();
        let answers = batch
            .into_iter()
            .map(|record| ProbeResult {
                answer: if gone.contains(&record.connection_id) {
                    Err(GatewayError::Gone)
                } else {
                    Ok(info(1))
                },
                record,
            })
            .collect();
        let _ = update(&mut app, Action::Probed(answers));
        if probed < 20_000 {
            let estimate = app.table.stale_estimate().expect("an estimate");
            assert!(
                estimate.contains(truth),
                "after {probed} probes: {estimate:?}, true share {truth}"
            );
            checked += 1;
            let text: String = text_of(&screen(&app, 140, 40));
            assert!(
                text.contains(&format!("stale {}", estimate.describe())),
                "{text}"
            );
        }
        effects = update(&mut app, Action::Tick(NOW));
        effects.retain(|e| matches!(e, Effect::Probe(_)));
    }
    assert_eq!(probed, 20_000);
    assert_eq!(checked, 99);
    assert_eq!(app.table.stale_estimate(), None);
    assert_eq!(app.count(ConnectionState::Stale), gone.len());
    assert_eq!(app.count(ConnectionState::Live), 20_000 - gone.len());
}

#[test]
fn slow_scans_are_repeated_less_often() {
    let mut app = App::new(env(false), NOW);
    assert_eq!(update(&mut app, Action::Tick(NOW)), vec![Effect::Scan]);
    let done = NOW + time::Duration::seconds(3);
    let _ = update(&mut app, Action::Tick(done));
    let _ = update(&mut app, Action::Scanned(Ok(StoreSnapshot::default())));
    // The scan took 3 s, so the next one waits 30 s, not 2 s.
    assert_eq!(
        update(&mut app, Action::Tick(done + time::Duration::seconds(5))),
        vec![]
    );
    assert_eq!(
        update(&mut app, Action::Tick(done + time::Duration::seconds(31))),
        vec![Effect::Scan]
    );
}

#[test]
fn probe_answers_become_states_and_old_records_are_probed_too() {
    let mut app = loaded(false);
    assert_eq!(state_of(&app, "alice"), ConnectionState::Live);
    assert_eq!(state_of(&app, "carol"), ConnectionState::Stale);
    assert_eq!(state_of(&app, "dave"), ConnectionState::Expired);
    assert_eq!(state_of(&app, "erin"), ConnectionState::Unknown);
    assert_eq!(state_of(&app, "frank"), ConnectionState::Malformed);
    assert_eq!(app.count(ConnectionState::Live), 2);

    // dave's connected_at is 3 h old, but only the gateway's answer decides: he is asked about
    // like everyone else, and a live answer makes him live.
    app.scan.probing = false;
    let effects = update(&mut app, Action::RefreshNow);
    let probed: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Probe(records) => Some(records.iter().map(|r| r.user_id.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(probed.contains(&"dave".to_string()), "{probed:?}");
    let _ = update(
        &mut app,
        Action::Probed(vec![ProbeResult {
            record: record("dave", "DDDDDDDDDDDDDDD=", 180),
            answer: Ok(info(3)),
        }]),
    );
    assert_eq!(state_of(&app, "dave"), ConnectionState::Live);
}

#[test]
fn a_failed_scan_keeps_the_last_good_data_and_says_why() {
    let mut app = loaded(false);
    let _ = update(&mut app, Action::Tick(NOW + time::Duration::seconds(10)));
    let _ = update(
        &mut app,
        Action::Scanned(Err(wsdash::tui::failure::Failure::Store(
            wsdash::store::StoreError::TableNotFound("ws_connections".into()),
        ))),
    );
    assert_eq!(app.table.rows.len(), 6);
    assert!(app
        .notice
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("table not found"));
}

#[test]
fn the_filter_narrows_rows_and_escape_clears_it() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('/')]);
    for c in "state:stale".chars() {
        press(&mut app, &[KeyCode::Char(c)]);
    }
    press(&mut app, &[KeyCode::Enter]);
    assert_eq!(app.table.visible.len(), 1);
    assert_eq!(app.selected_row().map(|r| r.user_id()), Some("carol"));
    press(&mut app, &[KeyCode::Esc]);
    assert_eq!(app.table.visible.len(), 6);
}

#[test]
fn the_composer_sends_the_template_to_the_selected_connection() {
    let mut app = loaded(false);
    let selected = app
        .selected_row()
        .map(|r| r.connection_id().to_string())
        .expect("a row");
    let effects = press(&mut app, &[KeyCode::Char('p'), KeyCode::Enter]);
    match effects.as_slice() {
        [Effect::Push { targets, payload }] => {
            assert_eq!(targets.len(), 1);
            assert_eq!(targets[0].connection_id, selected);
            let json: serde_json::Value = serde_json::from_str(payload).expect("json");
            assert_eq!(json["type"], "new_content");
        }
        other => panic!("expected a push, got {other:?}"),
    }
    assert!(matches!(app.overlay, Overlay::None));
    // The payload can be recalled next time.
    assert_eq!(app.outcomes.sent_history.len(), 1);
}

#[test]
fn the_composer_pushes_to_a_typed_user_id() {
    let mut app = loaded(false);
    let mut keys = vec![KeyCode::Char('p'), KeyCode::Tab, KeyCode::Right];
    keys.extend("bob".chars().map(KeyCode::Char));
    press(&mut app, &keys);
    match press(&mut app, &[KeyCode::Enter]).as_slice() {
        [Effect::Push { targets, .. }] => {
            assert_eq!(targets.len(), 1);
            assert_eq!(targets[0].target, "bob");
        }
        other => panic!("expected a push to bob, got {other:?}"),
    }
}

#[test]
fn the_composer_refuses_invalid_json_and_cycles_templates() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('p'), KeyCode::Backspace]);
    assert_eq!(press(&mut app, &[KeyCode::Enter]), vec![]);
    assert!(app
        .notice
        .status
        .as_deref()
        .unwrap_or_default()
        .contains("not valid JSON"));
    press(&mut app, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Right]);
    let Overlay::Composer(composer) = &app.overlay else {
        panic!("composer closed")
    };
    assert!(composer.payload.value().contains("new_comment"));
}

#[test]
fn disconnect_asks_first_and_can_delete_the_records_too() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char(' '), KeyCode::Char(' ')]);
    assert_eq!(app.table.marked.len(), 2);
    assert_eq!(press(&mut app, &[KeyCode::Char('d')]), vec![]);
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    press(&mut app, &[KeyCode::Char('r')]);
    match press(&mut app, &[KeyCode::Char('y')]).as_slice() {
        [Effect::Disconnect {
            connection_ids,
            delete_record: true,
        }] => assert_eq!(connection_ids.len(), 2),
        other => panic!("expected a disconnect, got {other:?}"),
    }
    assert!(app.table.marked.is_empty());
}

#[test]
fn purge_plans_then_confirms_then_summarises() {
    let mut app = loaded(false);
    assert_eq!(
        press(&mut app, &[KeyCode::Char('x')]),
        vec![Effect::PlanPurge]
    );
    assert!(matches!(app.overlay, Overlay::Progress(_)));
    let _ = update(&mut app, Action::PurgePlanned(plan()));
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    assert!(matches!(
        press(&mut app, &[KeyCode::Char('y')]).as_slice(),
        [Effect::ExecutePurge(_)]
    ));
    let _ = update(
        &mut app,
        Action::Purged(PurgeReport {
            deleted: vec![record("carol", "CCCCCCCCCCCCCCC=", 30)],
            ..Default::default()
        }),
    );
    assert!(matches!(&app.overlay, Overlay::Summary(title, _) if title.contains("deleted 1")));
}

#[test]
fn read_only_mode_disables_every_mutation_and_says_why() {
    let mut app = loaded(true);
    for k in ['p', 'd', 'x'] {
        assert_eq!(press(&mut app, &[KeyCode::Char(k)]), vec![]);
        assert!(matches!(app.overlay, Overlay::None));
        assert!(app
            .notice
            .status
            .as_deref()
            .unwrap_or_default()
            .contains("read-only"));
    }
    // `:readonly` can never switch it off, and it switches a writable dashboard on for good.
    let command = |app: &mut App| {
        press(app, &[KeyCode::Char(':')]);
        for c in "readonly".chars() {
            press(app, &[KeyCode::Char(c)]);
        }
        press(app, &[KeyCode::Enter]);
    };
    command(&mut app);
    assert!(app.env.readonly, "{:?}", app.notice.status);
    assert_eq!(press(&mut app, &[KeyCode::Char('x')]), vec![]);
    let mut writable = loaded(false);
    command(&mut writable);
    command(&mut writable);
    assert!(writable.env.readonly);
    assert_eq!(press(&mut writable, &[KeyCode::Char('x')]), vec![]);
}

#[test]
fn the_command_line_pushes_to_a_user() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char(':')]);
    for c in r#"push bob {"type":"heartbeat"}"#.chars() {
        press(&mut app, &[KeyCode::Char(c)]);
    }
    match press(&mut app, &[KeyCode::Enter]).as_slice() {
        [Effect::Push { targets, payload }] => {
            assert_eq!(targets[0].target, "bob");
            assert_eq!(payload, r#"{"type":"heartbeat"}"#);
        }
        other => panic!("expected a push, got {other:?}"),
    }
}

#[test]
fn gone_outcomes_mark_the_row_stale_and_are_counted() {
    let mut app = loaded(false);
    let _ = update(
        &mut app,
        Action::Delivered(outcome("bob", "BBBBBBBBBBBBBBB=", DeliveryClass::Gone)),
    );
    assert_eq!(state_of(&app, "bob"), ConnectionState::Stale);
    assert_eq!(app.outcomes.counts.get(&DeliveryClass::Gone), Some(&1));
}

#[test]
fn quitting_works_from_the_table_and_with_ctrl_c_anywhere() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('p')]);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let action = action_for(&app, ctrl_c).expect("action");
    let _ = update(&mut app, action);
    assert!(app.quit);
}

#[test]
fn the_command_line_runs_doctor_and_shows_what_failed_with_the_fix() {
    use wsdash::doctor::Check;
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char(':')]);
    for c in "doctor".chars() {
        press(&mut app, &[KeyCode::Char(c)]);
    }
    assert_eq!(press(&mut app, &[KeyCode::Enter]), vec![Effect::Doctor]);
    let _ = update(
        &mut app,
        Action::DoctorDone(Ok(vec![
            Check::pass("api", "abc123 is a WEBSOCKET API"),
            Check::fail(
                "integration $connect",
                "RequestParameters lack integration.request.header.connectionId",
                "aws apigatewayv2 update-integration --api-id abc123 --integration-id i1 ...",
            ),
        ])),
    );
    let Overlay::Summary(title, lines) = &app.overlay else {
        panic!("no summary")
    };
    assert_eq!(title, "Doctor: 1 pass, 0 warn, 1 fail");
    assert!(lines
        .iter()
        .any(|l| l.contains("fix: aws apigatewayv2 update-integration")));
    insta::assert_snapshot!(screen(&app, 110, 32));
}

#[test]
fn env_switches_the_dashboard_to_another_environment() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char(':')]);
    for c in "env staging".chars() {
        press(&mut app, &[KeyCode::Char(c)]);
    }
    assert_eq!(
        press(&mut app, &[KeyCode::Enter]),
        vec![Effect::SwitchEnvironment("staging".into())]
    );
    let _ = update(
        &mut app,
        Action::EnvironmentSwitchFailed(wsdash::tui::failure::Failure::Environment(
            "environment \"staging\" is not in config.toml".into(),
        )),
    );
    assert_eq!(app.env.name, "prod");
    assert_eq!(app.table.rows.len(), 6, "a failed switch keeps everything");
    let _ = update(
        &mut app,
        Action::EnvironmentSwitched(EnvironmentInfo {
            name: "staging".into(),
            ..env(false)
        }),
    );
    assert_eq!(app.env.name, "staging");
    assert!(
        app.table.rows.is_empty(),
        "nothing of prod is shown as staging"
    );
    assert_eq!(
        update(&mut app, Action::Tick(NOW + time::Duration::seconds(1))),
        vec![Effect::Scan]
    );
}

fn plan() -> PurgePlan {
    PurgePlan {
        made_at: NOW,
        checked: 6,
        stale: vec![
            StaleRecord {
                record: record("carol", "CCCCCCCCCCCCCCC=", 30),
                reason: StaleReason::Gone,
            },
            StaleRecord {
                record: record("dave", "DDDDDDDDDDDDDDD=", 180),
                reason: StaleReason::Gone,
            },
        ],
        undecided: vec![(record("erin", "EEEEEEEEEEEEEEE=", 1), "throttled".into())],
        scanned: Default::default(),
    }
}

// ---------- views ----------

#[test]
fn snapshot_main_view() {
    insta::assert_snapshot!(screen(&loaded(false), 130, 32));
}

#[test]
fn snapshot_main_view_read_only_with_an_error_and_a_filter() {
    let mut app = loaded(true);
    app.notice.error =
        Some("scan failed: throttled by the connection store (showing the last good data)".into());
    press(
        &mut app,
        &[KeyCode::Char('/'), KeyCode::Char('a'), KeyCode::Enter],
    );
    insta::assert_snapshot!(screen(&app, 130, 32));
}

#[test]
fn snapshot_small_terminal() {
    insta::assert_snapshot!(screen(&loaded(false), 60, 15));
}

#[test]
fn snapshot_help() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('?')]);
    insta::assert_snapshot!(screen(&app, 100, 40));
}

#[test]
fn snapshot_details() {
    let mut app = loaded(false);
    let alice = app
        .table
        .visible
        .iter()
        .position(|i| app.table.ids.user_id(*i) == "alice")
        .expect("alice");
    app.table.selected = alice;
    press(&mut app, &[KeyCode::Enter]);
    insta::assert_snapshot!(screen(&app, 100, 32));
}

#[test]
fn snapshot_composer() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('p')]);
    insta::assert_snapshot!(screen(&app, 110, 32));
}

#[test]
fn snapshot_disconnect_confirmation() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('d'), KeyCode::Char('r')]);
    insta::assert_snapshot!(screen(&app, 110, 32));
}

#[test]
fn snapshot_purge_plan_confirmation() {
    let mut app = loaded(false);
    press(&mut app, &[KeyCode::Char('x')]);
    insta::assert_snapshot!("purge_progress", screen(&app, 110, 32));
    let _ = update(&mut app, Action::PurgePlanned(plan()));
    insta::assert_snapshot!("purge_plan", screen(&app, 110, 32));
    press(&mut app, &[KeyCode::Char('y')]);
    let _ = update(
        &mut app,
        Action::Purged(PurgeReport {
            deleted: vec![record("carol", "CCCCCCCCCCCCCCC=", 30)],
            changed: vec![record("dave", "DDDDDDDDDDDDDDD=", 180)],
            ..Default::default()
        }),
    );
    insta::assert_snapshot!("purge_summary", screen(&app, 110, 32));
}

/// A table of `n` fresh records named u000, u001, ...
fn many(n: usize) -> App {
    let mut app = App::new(env(false), NOW);
    let _ = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records: (0..n)
                .map(|i| record(&format!("u{i:03}"), &format!("{i:015}="), i as i64))
                .collect(),
            malformed: vec![],
            ..Default::default()
        })),
    );
    app
}

fn visible_users(backend: &TestBackend) -> Vec<String> {
    let text = format!("{backend:?}");
    text.split("│ u")
        .skip(1)
        .filter_map(|rest| rest.get(..3).map(|n| format!("u{n}")))
        .collect()
}

#[test]
fn paging_moves_by_the_rows_the_layout_really_shows_at_any_height() {
    for (height, with_error) in [(40, false), (20, false), (23, true), (60, true)] {
        let mut app = many(200);
        let _ = update(&mut app, Action::Resize(120, height));
        if with_error {
            app.notice.error = Some("scan failed: ".to_string() + &"x".repeat(300));
        }
        let first = visible_users(&screen(&app, 120, height));
        press(&mut app, &[KeyCode::PageDown]);
        let second = visible_users(&screen(&app, 120, height));
        assert_eq!(
            second.first(),
            Some(&format!("u{:03}", first.len())),
            "height {height}: one page is exactly the {} rows shown (first page {first:?})",
            first.len()
        );
        assert!(
            second.contains(&app.selected_row().expect("row").user_id().to_string()),
            "the selection stays on screen"
        );
    }
}

#[test]
fn long_summaries_scroll_to_their_last_line_and_back() {
    let mut app = many(3);
    let _ = update(&mut app, Action::Resize(120, 30));
    let lines: Vec<String> = (0..100).map(|i| format!("line {i:03}")).collect();
    app.overlay = Overlay::Summary("Doctor".into(), lines);
    let text = |app: &App| format!("{:?}", screen(app, 120, 30));
    assert!(text(&app).contains("line 000") && !text(&app).contains("line 099"));
    assert!(
        text(&app).contains("of 100"),
        "says there is more: {}",
        text(&app)
    );
    press(&mut app, &[KeyCode::Char('G')]);
    assert!(text(&app).contains("line 099"), "{}", text(&app));
    assert!(!text(&app).contains("more"), "nothing is cut off");
    press(&mut app, &[KeyCode::Up]);
    assert!(
        !text(&app).contains("line 099"),
        "one row up answers at once"
    );
    press(&mut app, &[KeyCode::Char('g')]);
    assert!(text(&app).contains("line 000"));
    press(&mut app, &[KeyCode::Esc]);
    assert!(matches!(app.overlay, Overlay::None));
}

#[test]
fn hostile_stored_values_are_shown_escaped_in_the_table_and_the_details() {
    let mut app = App::new(env(false), NOW);
    let _ = update(&mut app, Action::Resize(140, 30));
    let hostile = record("screen\u{1b}[2J\u{7}", "RTL\u{202E}exe.txt=", 5);
    let _ = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records: vec![hostile.clone(), record("fake\nrow", "NEWLINE0000001=", 3)],
            malformed: vec![],
            ..Default::default()
        })),
    );
    let text = text_of;
    let table = text(&screen(&app, 140, 30));
    assert!(table.contains("screen\\u{1b}["), "{table}");
    assert!(table.contains("RTL\\u{202e}exe.tx"), "{table}");
    assert!(table.contains("fake\\nrow"), "{table}");
    // The details view of the hostile row, opened on its identity.
    while app.selected_row().map(|r| r.connection_id()) != Some(hostile.connection_id.as_str()) {
        press(&mut app, &[KeyCode::Down]);
    }
    press(&mut app, &[KeyCode::Enter]);
    let details = text(&screen(&app, 140, 30));
    assert!(
        details.contains("user_id        screen\\u{1b}[2J"),
        "{details}"
    );
    assert!(!details.contains('\u{202E}'), "{details}");
}

fn select_user(app: &mut App, user: &str) {
    press(app, &[KeyCode::Home]);
    for _ in 0..app.table.visible.len() {
        if app.selected_row().map(|r| r.user_id()) == Some(user) {
            return;
        }
        press(app, &[KeyCode::Down]);
    }
    panic!("{user} is not in the table");
}

fn rescan(app: &mut App, records: Vec<ConnectionRecord>) {
    let _ = update(
        app,
        Action::Scanned(Ok(StoreSnapshot {
            records,
            malformed: vec![],
            ..Default::default()
        })),
    );
}

#[test]
fn the_cursor_and_the_composer_follow_the_record_not_the_row_number() {
    let mut app = loaded(false);
    select_user(&mut app, "bob");
    press(&mut app, &[KeyCode::Char('p')]);
    // The table moves while the composer is open: a new newest record above bob, and another
    // order from the store.
    rescan(
        &mut app,
        vec![
            record("erin", "EEEEEEEEEEEEEEE=", 1),
            record("zed", "ZZZZZZZZZZZZZZZ=", 0),
            record("bob", "BBBBBBBBBBBBBBB=", 62),
            record("alice", "AAAAAAAAAAAAAAA=", 5),
        ],
    );
    assert_eq!(
        app.selected_row().map(|r| r.user_id()),
        Some("bob"),
        "the cursor stays on bob"
    );
    let text = text_of(&screen(&app, 120, 40));
    assert!(text.contains("selected connection (bob)"), "{text}");
    match press(&mut app, &[KeyCode::Enter]).as_slice() {
        [Effect::Push { targets, .. }] => {
            assert_eq!(targets.len(), 1);
            assert_eq!(targets[0].connection_id, "BBBBBBBBBBBBBBB=");
        }
        other => panic!("expected a push to bob, got {other:?}"),
    }
}

#[test]
fn a_composer_whose_record_vanished_sends_nothing_and_says_so() {
    let mut app = loaded(false);
    select_user(&mut app, "bob");
    press(&mut app, &[KeyCode::Char('p')]);
    rescan(&mut app, vec![record("alice", "AAAAAAAAAAAAAAA=", 5)]);
    assert_eq!(press(&mut app, &[KeyCode::Enter]), vec![]);
    let status = app.notice.status.clone().unwrap_or_default();
    assert!(
        status.contains("not sent") && status.contains("vanished") && status.contains("bob"),
        "{status}"
    );
    // Marked rows: the two shown, one vanished, the push goes to the one left and says why.
    let mut app = loaded(false);
    select_user(&mut app, "alice");
    press(&mut app, &[KeyCode::Char(' ')]);
    select_user(&mut app, "bob");
    press(&mut app, &[KeyCode::Char(' '), KeyCode::Char('p')]);
    rescan(
        &mut app,
        vec![
            record("alice", "AAAAAAAAAAAAAAA=", 5),
            record("newcomer", "NNNNNNNNNNNNNNN=", 0),
        ],
    );
    match press(&mut app, &[KeyCode::Enter]).as_slice() {
        [Effect::Push { targets, .. }] => {
            let ids: Vec<&str> = targets.iter().map(|t| t.connection_id.as_str()).collect();
            assert_eq!(ids, vec!["AAAAAAAAAAAAAAA="]);
        }
        other => panic!("expected a push to alice only, got {other:?}"),
    }
    let status = app.notice.status.clone().unwrap_or_default();
    assert!(
        status.contains("1 record(s) shown") && status.contains("bob"),
        "{status}"
    );
}

#[test]
fn the_rate_ceiling_is_set_with_a_command_and_throttling_is_shown() {
    let mut app = loaded(false);
    let mut keys = vec![KeyCode::Char(':')];
    keys.extend("rate 120".chars().map(KeyCode::Char));
    keys.push(KeyCode::Enter);
    assert_eq!(press(&mut app, &keys), vec![Effect::SetRate(Some(120.0))]);
    assert_eq!(app.telemetry.rate.ceiling, Some(120.0));
    let mut keys = vec![KeyCode::Char(':')];
    keys.extend("rate fast".chars().map(KeyCode::Char));
    keys.push(KeyCode::Enter);
    assert_eq!(press(&mut app, &keys), vec![]);
    assert!(app
        .notice
        .status
        .clone()
        .unwrap_or_default()
        .contains("not a number"));
    let _ = update(
        &mut app,
        Action::RateObserved(wsdash::ops::pacing::RateStatus {
            ceiling: Some(120.0),
            current: Some(60.0),
            throttled: true,
            throttles: 3,
            ..Default::default()
        }),
    );
    let text: String = text_of(&screen(&app, 120, 40));
    assert!(text.contains("API rate 60/120 calls/s"), "{text}");
    assert!(text.contains("THROTTLED (429)"), "{text}");
}

#[test]
fn the_header_says_how_much_of_the_table_is_probed_and_how_old_the_answers_are() {
    let mut app = loaded(false);
    // Four of the five well-formed records were probed at NOW; two minutes pass.
    app.now = NOW + time::Duration::minutes(2);
    let coverage = app.probe_coverage();
    assert_eq!((coverage.probed, coverage.probeable), (4, 5));
    let text: String = text_of(&screen(&app, 140, 40));
    assert!(
        text.contains("probed 80% of 5, oldest answer 2m00s ago"),
        "{text}"
    );
}

/// With an access log configured, the details view reads the selected connection's lines,
/// shows them (a refused handshake with the backend's 401 among them), and reads them again
/// every few seconds while it stays open.
#[test]
fn the_details_view_shows_the_connections_access_log() {
    let mut app = loaded(false);
    app.env.access_logs = Some("log group /ws/access".into());
    let selected = app.selected_row().expect("a row").key().to_string();
    let effects = update(&mut app, Action::OpenDetails);
    assert_eq!(effects, vec![Effect::FetchAccessLogs(selected.clone())]);
    let text = text_of;
    assert!(text(&screen(&app, 120, 40)).contains("reading…"));
    let mut entry = wsdash::access_logs::AccessLogEntry::now(&selected, "CONNECT", "$connect", 401);
    entry.request_time = "24/Nov/2026:10:29:58 +0000".into();
    entry.integration_status = Some(401);
    entry.error_message = Some("invalid token".into());
    let _ = update(
        &mut app,
        Action::AccessLogs {
            connection_id: selected.clone(),
            result: Ok(vec![wsdash::access_logs::LogLine::parse(
                0,
                serde_json::to_string(&entry).expect("json"),
            )]),
        },
    );
    let shown = text(&screen(&app, 120, 40));
    assert!(
        shown.contains("access log (log group /ws/access)"),
        "{shown}"
    );
    assert!(
        shown.contains("10:29:58 CONNECT $connect 401 (integration 401): invalid token"),
        "{shown}"
    );
    // Refused handshakes from the same source address and user agent as this connection's
    // own $connect: most likely the same client retrying with a stale token.
    let handshake = |id: &str, status: u16, agent: &str| {
        let mut entry = wsdash::access_logs::AccessLogEntry::now(id, "CONNECT", "$connect", status);
        entry.source_ip = "198.51.100.9".into();
        entry.user_agent = agent.into();
        entry.error_message = (status >= 400).then(|| "invalid token: expired".to_string());
        wsdash::access_logs::LogLine::parse(0, serde_json::to_string(&entry).expect("json"))
    };
    let _ = update(
        &mut app,
        Action::Handshakes(Ok(vec![
            handshake(&selected, 200, "Edge/131"),
            handshake("RRRRRRRRRRRRRR1=", 401, "Edge/131"),
            handshake("RRRRRRRRRRRRRR2=", 403, "Edge/131"),
            handshake("OTHERAGENTXXXX3=", 401, "Chrome/131"),
        ])),
    );
    let shown = text(&screen(&app, 120, 50));
    assert!(
        shown.contains("refused handshakes from this client (198.51.100.9, Edge/131), last 5 min: 401 ×1 403 ×1"),
        "{shown}"
    );
    assert!(
        shown.contains("$connect 401 RRRRRRRRRRRRRR1=: invalid token: expired"),
        "{shown}"
    );
    assert!(
        !shown.contains("OTHERAGENT"),
        "another agent is another client: {shown}"
    );
    let later = NOW + time::Duration::seconds(6);
    assert!(update(&mut app, Action::Tick(later)).contains(&Effect::FetchAccessLogs(selected)));
}

/// A user whose connection id changes with every scan is a reconnect storm: `f` lists them with
/// each connection and when it appeared, and counts records appearing and vanishing per minute.
/// The first read of the table counts as nothing.
#[test]
fn f_lists_users_whose_connection_keeps_changing() {
    let mut app = loaded(false);
    for (minute, id) in [
        (1, "FLAP00000000001="),
        (2, "FLAP00000000002="),
        (3, "FLAP00000000003="),
    ] {
        let now = NOW + time::Duration::minutes(minute);
        let _ = update(&mut app, Action::Tick(now));
        let _ = update(
            &mut app,
            Action::Scanned(Ok(StoreSnapshot {
                records: vec![
                    record("alice", "AAAAAAAAAAAAAAA=", 5),
                    record("flappy", id, 0),
                ],
                malformed: vec![],
                ..Default::default()
            })),
        );
    }
    app.env.access_logs = Some("log group /ws/access".into());
    // The access log: flappy's three accepted handshakes, then refusals from the same client,
    // and one from somebody else.
    let handshake = |id: &str, status: u16, ip: &str| {
        let mut entry = wsdash::access_logs::AccessLogEntry::now(id, "CONNECT", "$connect", status);
        entry.source_ip = ip.into();
        entry.user_agent = "Edge/131".into();
        if status >= 400 {
            entry.error_message = Some("invalid token".into());
        }
        wsdash::access_logs::LogLine::parse(0, serde_json::to_string(&entry).expect("json"))
    };
    let _ = update(
        &mut app,
        Action::Handshakes(Ok(vec![
            handshake("FLAP00000000001=", 200, "198.51.100.9"),
            handshake("FLAP00000000002=", 200, "198.51.100.9"),
            handshake("R1", 401, "198.51.100.9"),
            handshake("FLAP00000000003=", 200, "198.51.100.9"),
            handshake("R2", 401, "198.51.100.9"),
            handshake("R3", 401, "203.0.113.5"),
        ])),
    );
    let _ = update(&mut app, Action::ShowFlapping);
    assert!(matches!(app.overlay, Overlay::Storm), "{:?}", app.overlay);
    let (title, lines) = wsdash::tui::views::storm::build(&app);
    assert!(title.contains("1 user(s)"), "{title}");
    let text = lines.join("\n");
    assert!(
        text.contains("flappy  3 connections: FLAP00000000001= at 10:31:00"),
        "{text}"
    );
    assert!(
        text.contains("$connect 200 ×3 · refused from its client (198.51.100.9, Edge/131): 401 ×2 — a bad or expired token"),
        "the refusals from flappy's own client sit beside it: {text}"
    );
    assert!(
        !text.contains("alice"),
        "a steady user is not listed: {text}"
    );
    assert!(text.contains("the last 1 h per minute"), "{text}");
    assert!(
        text.contains("401 ×3 — a bad or expired token; 2 from 198.51.100.9, Edge/131; last reason: invalid token"),
        "{text}"
    );
    // `w`: the same view over 3 h, then 24 h; the churn is still there.
    let key = |c| crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
    let action = wsdash::tui::keymap::action_for(&app, key('w')).expect("w is bound");
    let _ = update(&mut app, action);
    let text = wsdash::tui::views::storm::build(&app).1.join("\n");
    assert!(text.contains("the last 3 h per 3 min"), "{text}");
    let _ = update(&mut app, Action::CycleMetricsWindow);
    let text = wsdash::tui::views::storm::build(&app).1.join("\n");
    assert!(text.contains("the last 24 h per 24 min"), "{text}");
    assert!(text.contains("in all"), "{text}");
    let shown = text_of(&screen(&app, 140, 50));
    assert!(shown.contains("w: 1 h / 3 h / 24 h"), "{shown}");
}

fn text_of(backend: &TestBackend) -> String {
    backend
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect()
}

/// On AWS the stage's CloudWatch metrics are read once a minute and drawn under `f`; when
/// they cannot be read, `f` says why.
#[test]
fn the_stage_metrics_are_read_each_minute_and_drawn_under_f() {
    let mut app = App::new(env(false), NOW);
    app.env.metrics = Some("CloudWatch AWS/ApiGateway abc123/production".into());
    let hourly = Effect::FetchMetrics(wsdash::gateway_metrics::TimeWindow::Hour);
    assert!(update(&mut app, Action::Tick(NOW)).contains(&hourly));
    assert!(!update(&mut app, Action::Tick(NOW + time::Duration::seconds(30))).contains(&hourly));
    assert!(update(&mut app, Action::Tick(NOW + time::Duration::seconds(61))).contains(&hourly));
    let mut values = vec![0.0; 60];
    values[59] = 12.0;
    use wsdash::gateway_metrics::TimeWindow;
    let _ = update(
        &mut app,
        Action::GatewayMetrics(
            TimeWindow::Hour,
            Ok(vec![wsdash::gateway_metrics::MetricSeries {
                name: "ConnectCount".into(),
                values,
            }]),
        ),
    );
    let _ = update(&mut app, Action::ShowFlapping);
    let text = wsdash::tui::views::storm::build(&app).1.join("\n");
    assert!(
        text.contains(
            "the stage, the last 1 h per minute (CloudWatch AWS/ApiGateway abc123/production)"
        ),
        "{text}"
    );
    assert!(
        text.contains("ConnectCount") && text.contains("█|  now 12"),
        "{text}"
    );
    // Another window is read at once; the hour stays on screen until it comes.
    assert_eq!(
        update(&mut app, Action::CycleMetricsWindow),
        [Effect::FetchMetrics(TimeWindow::ThreeHours)]
    );
    let text = wsdash::tui::views::storm::build(&app).1.join("\n");
    assert!(text.contains("(reading the last 3 h…)"), "{text}");
    assert!(text.contains("█|  now 12"), "{text}");
    let _ = update(
        &mut app,
        Action::GatewayMetrics(
            TimeWindow::ThreeHours,
            Err(wsdash::tui::failure::Failure::Metrics(
                "GetMetricData failed: AccessDenied".into(),
            )),
        ),
    );
    assert!(wsdash::tui::views::storm::build(&app)
        .1
        .join("\n")
        .contains("GetMetricData failed: AccessDenied"));
}

/// A flapping client's record can leave the store while its details are read: the view keeps
/// the record as last seen, says so, and still shows its access log.
#[test]
fn details_keep_a_record_that_left_the_store_as_last_seen() {
    let mut app = loaded(false);
    let selected = app.selected_row().expect("a row").key().to_string();
    let _ = update(&mut app, Action::OpenDetails);
    let later = NOW + time::Duration::seconds(3);
    let _ = update(&mut app, Action::Tick(later));
    let _ = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records: vec![record("alice", "AAAAAAAAAAAAAAA=", 5)],
            malformed: vec![],
            ..Default::default()
        })),
    );
    assert!(app.row(&selected).is_none(), "{selected} left the store");
    let shown = text_of(&screen(&app, 120, 40));
    assert!(
        shown.contains(
            "record as last seen at 2026-11-24T10:30:03.000Z (it has left the store since)"
        ),
        "{shown}"
    );
    assert!(shown.contains(&selected), "{shown}");
}

/// The guide's policy denies GetConnection: the dashboard says so once, in place of a table of
/// unknowns, keeps every row's state, and tries one probe a minute until it is granted.
#[test]
fn a_denied_get_connection_turns_probes_off_once_and_keeps_the_rows() {
    use wsdash::management::denial::CallContext;
    use wsdash::management::{Denial, DenialCause, Verb};
    let mut app = loaded(false);
    let before: Vec<ConnectionState> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| state_of(&app, u))
        .collect();
    let denied = || {
        Err(GatewayError::Forbidden(Box::new(Denial::new(
            DenialCause::IamDenied,
            "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: execute-api:ManageConnections on resource: …/GET/@connections/AAAAAAAAAAAAAAA=".into(),
            &CallContext::for_tests(Verb::Get),
        ))))
    };
    let _ = update(
        &mut app,
        Action::Probed(
            [
                ("alice", "AAAAAAAAAAAAAAA="),
                ("bob", "BBBBBBBBBBBBBBB="),
                ("carol", "CCCCCCCCCCCCCCC="),
            ]
            .iter()
            .map(|(user, id)| ProbeResult {
                record: record(user, id, 5),
                answer: denied(),
            })
            .collect(),
        ),
    );
    let error = app.notice.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("GetConnection denied by IAM: probes are off")
            && error.contains("pushes still work")
            && error.contains("/GET/@connections/*"),
        "{error}"
    );
    let after: Vec<ConnectionState> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| state_of(&app, u))
        .collect();
    assert_eq!(after, before, "no row turns unknown");
    // No probe for a minute, then a single one to see whether it was granted.
    let probes = |effects: Vec<Effect>| -> Vec<usize> {
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Probe(records) => Some(records.len()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        probes(update(
            &mut app,
            Action::Tick(NOW + time::Duration::seconds(30))
        )),
        Vec::<usize>::new()
    );
    assert_eq!(
        probes(update(
            &mut app,
            Action::Tick(NOW + time::Duration::seconds(61))
        )),
        vec![1]
    );
    let _ = update(
        &mut app,
        Action::Probed(vec![ProbeResult {
            record: record("alice", "AAAAAAAAAAAAAAA=", 5),
            answer: Ok(info(4)),
        }]),
    );
    assert!(app.notice.error.is_none(), "{:?}", app.notice.error);
    assert!(app.scan.probes_refused.is_none());
}
