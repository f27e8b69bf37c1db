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

const SUBCOMMANDS: [&str; 15] = [
    "list",
    "probe",
    "push",
    "disconnect",
    "purge",
    "restore",
    "doctor",
    "store",
    "gateway",
    "backend",
    "demo",
    "exporter",
    "orphans",
    "overview",
    "replay",
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

/// README.md and every page of docs/, by name.
fn documentation() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).expect("README.md"),
    )];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for path in docs {
        let text = std::fs::read_to_string(&path).expect("doc page");
        pages.push((
            format!(
                "docs/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
            text,
        ));
    }
    pages
}

/// The `wsdash ...` lines of README.md and docs/, joined across `\` continuations, comments
/// and `[optional]` parts removed.
fn readme_commands() -> Vec<String> {
    documentation()
        .iter()
        .flat_map(|(_, text)| commands_in(text))
        .collect()
}

fn commands_in(readme: &str) -> Vec<String> {
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
        // wsdash's own words end where the shell takes over (a redirect, a pipe, `&&`).
        let without_comment = [" > ", " | ", " && ", " ; "]
            .iter()
            .fold(without_comment, |text, operator| {
                text.split(operator).next().unwrap_or_default()
            });
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

/// The keys of the dashboard's key map, one token each (`↑/k ↓/j` gives ↑, k, ↓, j).
fn keymap_tokens() -> Vec<&'static str> {
    wsdash::tui::keymap::help_lines()
        .into_iter()
        .flat_map(|(keys, _)| keys.split(' '))
        // `↑/k` is two keys; `/` alone is the filter key.
        .flat_map(|k| -> Vec<&'static str> {
            if k.len() > 1 && k.contains('/') {
                k.split('/').collect()
            } else {
                vec![k]
            }
        })
        .filter(|k| !k.is_empty() && *k != ",")
        .collect()
}

/// Every key the dashboard binds is in docs/keys.md, and every key README's short table names
/// is bound: neither page can drift from the key map.
#[test]
fn the_key_pages_name_exactly_keys_of_the_key_map() {
    let pages = documentation();
    let page = |name: &str| {
        pages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("{name} is missing"))
    };
    let keys_page = page("docs/keys.md");
    let tokens = keymap_tokens();
    for token in &tokens {
        assert!(
            keys_page.contains(&format!("`{token}`")),
            "docs/keys.md does not name the key `{token}` of the key map"
        );
    }
    let readme = page("README.md");
    let table = readme
        .split("## Keys")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Keys section");
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for key in first.split('`').skip(1).step_by(2) {
            assert!(
                tokens.contains(&key),
                "README's key `{key}` is not in the key map: {line}"
            );
        }
    }
}
