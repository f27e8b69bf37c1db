//! The docs cannot drift from the binary: every command's `--help` is snapshotted, and every
//! `wsdash ...` command line in README.md must parse.

use crate::common;

use std::process::Command;

/// `wsdash ARGS --help` with no WSDASH_* variables set, so the text is the same everywhere.
fn help(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(common::BIN);
    command.args(args).arg("--help").env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run wsdash --help");
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

const SUBCOMMANDS: [&str; 10] = [
    "list",
    "probe",
    "push",
    "disconnect",
    "purge",
    "restore",
    "doctor",
    "gateway",
    "backend",
    "demo",
];

#[test]
fn every_commands_help_is_snapshotted_with_global_flags_under_their_own_heading() {
    insta::assert_snapshot!("help_top", help(&[], &[]));
    for sub in SUBCOMMANDS {
        let text = help(&[sub], &[]);
        let (own, global) = text
            .split_once("Global options")
            .unwrap_or_else(|| panic!("{sub} --help has no global options heading:\n{text}"));
        for flag in [
            "--env <ENV>",
            "--table <TABLE>",
            "--readonly",
            "--audit-log",
        ] {
            assert!(
                !own.contains(flag) && global.contains(flag),
                "{sub}: {flag} belongs under Global options:\n{text}"
            );
        }
        insta::assert_snapshot!(format!("help_{sub}"), text);
    }
}

#[test]
fn secrets_in_the_environment_never_appear_in_help() {
    for sub in ["backend", "demo", "doctor", "gateway"] {
        let text = help(
            &[sub],
            &[
                ("WSDASH_ADMIN_TOKEN", "sekrit-admin"),
                ("WSDASH_JWT_SECRET", "sekrit-jwt"),
                ("WSDASH_GATEWAY_ADMIN_TOKEN", "sekrit-gateway"),
            ],
        );
        assert!(
            !text.contains("sekrit"),
            "{sub} --help leaks a secret:\n{text}"
        );
    }
}

/// Split a shell command line into words: single and double quotes, `\` line continuations.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// README's `wsdash ...` lines, joined across `\` continuations, comments and `[optional]`
/// parts removed.
fn readme_commands() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut commands = Vec::new();
    let mut in_code = false;
    let mut pending: Option<String> = None;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        let line = line.trim().trim_start_matches("$ ");
        let text = match pending.take() {
            Some(before) => format!("{before} {line}"),
            None if line.starts_with("wsdash ") => line.to_string(),
            None => continue,
        };
        if let Some(rest) = text.strip_suffix('\\') {
            pending = Some(rest.to_string());
            continue;
        }
        let without_comment = text.split(" #").next().unwrap_or_default();
        let mut cleaned = String::new();
        let mut depth = 0;
        for c in without_comment.chars() {
            match c {
                '[' => depth += 1,
                ']' if depth > 0 => depth -= 1,
                c if depth == 0 => cleaned.push(c),
                _ => {}
            }
        }
        commands.push(cleaned);
    }
    commands
}

#[test]
fn every_command_in_the_readme_parses() {
    use clap::Parser;
    let commands = readme_commands();
    assert!(
        commands.len() >= 10,
        "README lost its examples: {commands:?}"
    );
    for line in commands {
        let words = shell_words(&line);
        if let Err(e) = wsdash::cli::Cli::try_parse_from(&words) {
            panic!("README command does not parse: {line}\n{e}");
        }
    }
}
