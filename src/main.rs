use clap::Parser;
use std::process::ExitCode;
use wsdash::cli::{Cli, Command};
use wsdash::commands::{self, CommandError};
use wsdash::launch;

fn main() -> ExitCode {
    wsdash::tui::runtime::mark_process_start();
    let cli = Cli::parse();
    // Generated from the clap definitions; they need no environment, runtime or logging.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            wsdash::cli::print_completions(*shell);
            return ExitCode::SUCCESS;
        }
        Some(Command::Man) => {
            return match wsdash::cli::print_man_page() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the man page: {e}");
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }
    let dashboard = match &cli.command {
        None => true,
        Some(Command::Demo(args)) => !args.headless,
        Some(Command::Overview(_)) => true,
        Some(Command::Replay(args)) => args.at.is_none(),
        _ => false,
    };
    wsdash::logging::init(dashboard);
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let global = cli.global.clone();
    if !dashboard && !matches!(cli.command, Some(Command::Gateway(_) | Command::Backend(_))) {
        // Said once, on stderr, so scripts reading stdout are not disturbed.
        if let Some(note) = global.environment().ok().and_then(|env| env.endpoint_note) {
            eprintln!("note: {note}");
        }
    }
    let result: Result<(), CommandError> = runtime.block_on(async move {
        let server = |r: anyhow::Result<()>| r.map_err(|e| CommandError::Failed(format!("{e:#}")));
        match cli.command {
            Some(Command::Gateway(args)) => server(launch::run_gateway(&global, *args).await),
            Some(Command::Backend(args)) => server(launch::run_backend(&global, args).await),
            Some(Command::Demo(args)) if args.headless => {
                server(launch::run_demo_headless(&global, args).await)
            }
            Some(Command::Demo(args)) => server(launch::run_demo_dashboard(&global, args).await),
            Some(Command::List) => commands::list::run(&global).await,
            Some(Command::Probe) => commands::probe::run(&global).await,
            Some(Command::Push(args)) => commands::push::run(&global, &args).await,
            Some(Command::Disconnect(args)) => commands::disconnect::run(&global, &args).await,
            Some(Command::Purge(args)) => commands::purge::run(&global, &args).await,
            Some(Command::Restore(args)) => commands::restore::run(&global, &args).await,
            Some(Command::Doctor(args)) => commands::doctor::run(&global, &args).await,
            Some(Command::Store(command)) => commands::store::run(&global, &command).await,
            Some(Command::Orphans(args)) => commands::orphans::run(&global, &args).await,
            Some(Command::Overview(args)) => launch::run_overview(&global, &args).await,
            Some(Command::Replay(args)) => launch::run_replay(&global, &args).await,
            Some(Command::Exporter(args)) => wsdash::exporter::run(&global, &args).await,
            // Answered before the runtime started.
            Some(Command::Completions { .. } | Command::Man) => Ok(()),
            None if launch::wants_demo(&global) => {
                server(launch::run_demo_dashboard(&global, Default::default()).await)
            }
            None => launch::run_env_dashboard(&global).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// One thread for the one-shot commands, worker threads for the servers and the dashboard.
/// A command's work is a stream of small HTTP calls: on one thread, each answer is read and
/// the next call written without waking another thread, which is most of what a call costs
/// otherwise (measured with `wsdash push`: futex and scheduler time beside every request).
/// The dashboard and the servers keep the worker pool: they serve many peers at once and must
/// never let one slow part stall the rest.
fn runtime_for(command: &Option<Command>) -> std::io::Result<tokio::runtime::Runtime> {
    let one_shot = matches!(
        command,
        Some(
            Command::List
                | Command::Probe
                | Command::Push(_)
                | Command::Disconnect(_)
                | Command::Purge(_)
                | Command::Restore(_)
                | Command::Orphans(_)
        )
    );
    if one_shot {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    }
}
