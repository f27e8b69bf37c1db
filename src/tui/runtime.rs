//! The event loop: terminal input, ticks and results of background work merged in one `select!`;
//! effects run as tasks and report back as actions. Drawing never waits on the network.

use super::action::{Action, Effect};
use super::app::{App, EnvironmentInfo};
use super::failure::Failure;
use super::follow::{follow_changes, open_feed, Tagged};
use super::keymap::action_for;
use super::update::update;
use super::views;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub use super::effects::{Backend, DoctorJob};

static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Called first thing in `main`, so the first-frame time can be logged (and benchmarked).
pub fn mark_process_start() {
    let _ = PROCESS_START.set(std::time::Instant::now());
}

/// Opens a named environment for `:env NAME`.
pub type EnvironmentOpener = Arc<
    dyn Fn(
            String,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<(EnvironmentInfo, Backend), String>> + Send>,
        > + Send
        + Sync,
>;

/// Why the dashboard stopped other than by the operator's choice.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// Whatever kept the dashboard's data sources from starting, said in words.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// Open the terminal, draw at once, then wait for `setup` (which may start the demo) and run.
pub async fn run_dashboard<F>(
    initial: EnvironmentInfo,
    setup: F,
    opener: Option<EnvironmentOpener>,
    recorder: Option<super::recording::Recorder>,
) -> Result<(), DashboardError>
where
    F: Future<Output = Result<(EnvironmentInfo, Backend, Option<String>), SetupError>>,
{
    // Listen before the first frame: SIGINT, SIGTERM or SIGHUP must never leave the operator's
    // terminal in raw mode on the alternate screen. (ratatui::init also restores on a panic.)
    let signals = crate::shutdown::Signals::install()?;
    let mutations = Mutations::default();
    let mut terminal = ratatui::init();
    // The wheel scrolls and a click selects, as in k9s and gitui (hold Shift to select text).
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    let result = event_loop(
        &mut terminal,
        initial,
        setup,
        opener,
        signals,
        &mutations,
        recorder,
    )
    .await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    ratatui::restore();
    mutations.finish().await;
    result
}

/// The wheel moves the selection (the overlays scroll), a left click selects a table row.
fn action_for_mouse(app: &App, mouse: crossterm::event::MouseEvent) -> Option<Action> {
    use crossterm::event::{MouseButton, MouseEventKind};
    let overlay = !matches!(app.overlay, crate::tui::app::Overlay::None);
    match mouse.kind {
        MouseEventKind::ScrollDown if overlay => Some(Action::ScrollOverlay(3)),
        MouseEventKind::ScrollUp if overlay => Some(Action::ScrollOverlay(-3)),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::ScrollUp => Some(Action::Up),
        MouseEventKind::Down(MouseButton::Left) => Some(Action::ClickRow(mouse.row)),
        _ => None,
    }
}

/// OSC 52: the terminal (or tmux, with set-clipboard on) puts `text` on its clipboard; over
/// SSH it reaches the operator's own machine. Written between frames, in one piece.
fn copy_to_clipboard(text: &str) {
    use base64::Engine;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\u{1b}]52;c;{encoded}\u{7}");
    let _ = out.flush();
}

/// Pushes, disconnects and purge deletes in flight: on quit they stop between two operations,
/// and the process waits for the one in flight so its result reaches the audit log.
#[derive(Default)]
struct Mutations {
    stop: crate::shutdown::StopRequest,
    tracker: tokio_util::task::TaskTracker,
}

impl Mutations {
    const GRACE: Duration = Duration::from_secs(10);

    async fn finish(&self) {
        self.stop.stop();
        self.tracker.close();
        if self.tracker.is_empty() {
            return;
        }
        eprintln!(
            "wsdash: waiting for {} operation(s) in flight to write their results…",
            self.tracker.len()
        );
        if tokio::time::timeout(Self::GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            eprintln!("wsdash: gave up waiting; see the audit log (an intent without a result means maybe done)");
        }
    }
}

async fn event_loop<F>(
    terminal: &mut ratatui::DefaultTerminal,
    initial: EnvironmentInfo,
    setup: F,
    opener: Option<EnvironmentOpener>,
    mut signals: crate::shutdown::Signals,
    mutations: &Mutations,
    mut recorder: Option<super::recording::Recorder>,
) -> Result<(), DashboardError>
where
    F: Future<Output = Result<(EnvironmentInfo, Backend, Option<String>), SetupError>>,
{
    let mut app = App::new(initial, time::OffsetDateTime::now_utc());
    let _ = update(&mut app, Action::Starting);
    let size = terminal.size()?;
    let effects = update(&mut app, Action::Resize(size.width, size.height));
    // (There are no data sources to hand I/O to yet, and a resize asks for none.)
    debug_assert!(effects.is_empty(), "a resize asks for no I/O");
    let no_color = views::no_color_requested();
    terminal.draw(|f| views::render_with(&app, f, no_color))?;
    if let Some(start) = PROCESS_START.get() {
        tracing::info!(
            first_frame_ms = start.elapsed().as_secs_f64() * 1000.0,
            "first frame drawn"
        );
    }
    let (env, backend, client_page) = tokio::select! {
        ready = setup => ready.map_err(|e| DashboardError::Setup(e.to_string()))?,
        signal = signals.recv() => {
            tracing::info!(%signal, "stopped while starting");
            return Ok(());
        }
    };
    if let Some(start) = PROCESS_START.get() {
        tracing::info!(
            ready_ms = start.elapsed().as_secs_f64() * 1000.0,
            "data sources ready"
        );
    }
    let ready = EnvironmentInfo { client_page, ..env };
    if let Some(recorder) = recorder.as_mut() {
        recorder.record(
            time::OffsetDateTime::now_utc(),
            super::recording::Recorded::environment(&ready),
        );
    }
    // The first scan is asked for below, once the feed is open.
    let _ = update(&mut app, Action::SourcesReady(ready));

    let mut backend = backend;
    // Results are tagged with the environment generation they were started in, so that late
    // answers from the environment just left are dropped.
    let mut generation: u64 = 0;
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Action)>();
    let (switched_tx, mut switched_rx) =
        mpsc::unbounded_channel::<Result<(EnvironmentInfo, Backend), String>>();
    // The feed opens before the first scan, so that no change can fall between the two.
    let mut _following = {
        let tagged = Tagged {
            generation,
            tx: tx.clone(),
        };
        let first = match open_feed(&backend.store).await {
            Ok(Some(feed)) => {
                for effect in update(&mut app, Action::FeedOpened(feed.describe())) {
                    spawn_effect(effect, &backend, mutations, tagged.clone());
                }
                Some(feed)
            }
            Ok(None) => None,
            Err(e) => {
                for effect in update(&mut app, Action::FeedLost(e)) {
                    spawn_effect(effect, &backend, mutations, tagged.clone());
                }
                None
            }
        };
        follow_changes(backend.store.clone(), first, false, tagged)
    };
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        terminal.draw(|f| views::render_with(&app, f, no_color))?;
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => action_for(&app, key),
                Some(Ok(Event::Resize(width, height))) => Some(Action::Resize(width, height)),
                Some(Ok(Event::Mouse(mouse))) => action_for_mouse(&app, mouse),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(DashboardError::Terminal(e)),
                None => Some(Action::Quit),
            },
            Some((tag, action)) = rx.recv() => (tag == generation).then_some(action),
            Some(switched) = switched_rx.recv() => Some(match switched {
                Ok((env, next)) => {
                    backend = next;
                    generation += 1;
                    // Replaces (and so stops) the previous environment's follower.
                    _following = follow_changes(
                        backend.store.clone(),
                        None,
                        true,
                        Tagged { generation, tx: tx.clone() },
                    );
                    Action::EnvironmentSwitched(env)
                }
                Err(e) => Action::EnvironmentSwitchFailed(Failure::Environment(e)),
            }),
            _ = tick.tick() => {
                // Through the channel, so its effects are handled with the tick's just below.
                let _ = tx.send((generation, Action::RateObserved(backend.rate.status())));
                Some(Action::Tick(time::OffsetDateTime::now_utc()))
            }
            signal = signals.recv() => {
                tracing::info!(%signal, "quitting on a signal");
                Some(Action::Quit)
            }
        };
        let mut pending: Vec<Action> = action.into_iter().collect();
        // Take everything that arrived meanwhile, so a burst of outcomes costs one frame.
        while let Ok((tag, more)) = rx.try_recv() {
            if tag == generation {
                pending.push(more);
            }
            if pending.len() > 10_000 {
                break;
            }
        }
        for action in pending {
            if let Some(recorder) = recorder.as_mut() {
                match &action {
                    Action::EnvironmentSwitched(env) => recorder.record(
                        time::OffsetDateTime::now_utc(),
                        super::recording::Recorded::environment(env),
                    ),
                    action => {
                        if let Some(data) = super::recording::Recorded::of(action) {
                            recorder.record(time::OffsetDateTime::now_utc(), data);
                        }
                        recorder.flush_if_due();
                    }
                }
            }
            for effect in update(&mut app, action) {
                if let Effect::SetRate(ceiling) = effect {
                    backend.rate.set_ceiling(ceiling);
                    continue;
                }
                if let Effect::CopyToClipboard(text) = effect {
                    copy_to_clipboard(&text);
                    continue;
                }
                if let Effect::SwitchEnvironment(name) = effect {
                    let switched_tx = switched_tx.clone();
                    match &opener {
                        Some(open) => {
                            let opening = open(name);
                            tokio::spawn(async move {
                                let _ = switched_tx.send(opening.await);
                            });
                        }
                        None => {
                            let _ = switched_tx
                                .send(Err("this dashboard cannot switch environments".into()));
                        }
                    }
                    continue;
                }
                spawn_effect(
                    effect,
                    &backend,
                    mutations,
                    Tagged {
                        generation,
                        tx: tx.clone(),
                    },
                );
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}

fn spawn_effect(effect: Effect, backend: &Backend, mutations: &Mutations, tx: Tagged) {
    let backend = backend.clone();
    let stop = mutations.stop.clone();
    let mutates = matches!(
        effect,
        Effect::Push { .. } | Effect::Disconnect { .. } | Effect::ExecutePurge(_)
    );
    let task = async move {
        let progress = tx.clone();
        let send = move |action| {
            let _ = progress.send(action);
        };
        if let Some(action) = super::effects::run(effect, backend, stop, send).await {
            let _ = tx.send(action);
        }
    };
    // Read-only work may be dropped on quit; mutations are waited for.
    if mutates {
        mutations.tracker.spawn(task);
    } else {
        tokio::spawn(task);
    }
}
