//! The deployment files run this binary: every command they run must work and every variable
//! they set must be one the binary reads.

use std::path::{Path, PathBuf};

use migration::{Migrator, MigratorTrait};

use crate::helpers::{TestDatabase, helpdesk, run};

fn deploy_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("deploy/ exists") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &mut files,
    );
    files.sort();
    files
}

/// Words that look like our configuration variables.
fn variables(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| {
            word.starts_with("HELPDESK_")
                || word.starts_with("OTEL_")
                || matches!(*word, "DATABASE_URL" | "REDIS_URL" | "RUST_LOG")
        })
        .map(str::to_string)
        .collect()
}

/// The argument lists of `args: [...]` lines and of the image's default command.
fn commands(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let list = line
                .strip_prefix("args:")
                .or_else(|| line.strip_prefix("CMD"))
                .or_else(|| line.split_once("CMD [\"helpdesk\",").map(|(_, rest)| rest))?;
            let list = list.trim().trim_start_matches('[').trim_end_matches(']');
            let words: Vec<String> = list
                .split(',')
                .map(|w| w.trim().trim_matches('"').to_string())
                .filter(|w| !w.is_empty())
                .collect();
            (!words.is_empty()).then_some(words)
        })
        .collect()
}

#[tokio::test]
async fn deploy_files_set_only_variables_the_binary_reads() {
    let database = TestDatabase::create().await;
    let mut help = helpdesk(&database);
    help.args(["serve", "--help"]);
    let help = run(help, None).await.stdout;
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example"))
            .expect(".env.example");
    let mut checked = 0;
    for file in deploy_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        for variable in variables(&text) {
            assert!(
                help.contains(&format!("[env: {variable}="))
                    || help.contains(&format!("[env: {variable}]")),
                "{} sets {variable}, which `helpdesk serve` does not read",
                file.display()
            );
            assert!(
                example.contains(&variable),
                ".env.example does not document {variable}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "found only {checked} variables in deploy/");
}

#[tokio::test]
async fn the_commands_deploy_files_run_succeed() {
    let database = TestDatabase::create().await;
    let mut found: Vec<Vec<String>> = Vec::new();
    for file in deploy_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        found.extend(commands(&text));
    }
    assert!(
        found.contains(&vec!["migrate".to_string(), "up".to_string()]),
        "{found:?}"
    );
    assert!(found.contains(&vec!["serve".to_string()]), "{found:?}");
    assert!(found.contains(&vec!["health".to_string()]), "{found:?}");

    // The migrate Job first, as in a release; then the image's health check.
    let ordered = {
        let mut commands = found.clone();
        commands.sort_by_key(|c| c[0] != "migrate");
        commands.dedup();
        commands
    };
    for args in ordered {
        let mut command = helpdesk(&database);
        if args == ["serve"] {
            // Serving is covered end to end elsewhere; here the arguments must parse.
            command.args(["serve", "--help"]);
        } else {
            command.args(&args);
        }
        let output = run(command, None).await;
        assert_eq!(
            output.code,
            Some(0),
            "{args:?}: {}{}",
            output.stdout,
            output.stderr
        );
    }
    let db = database.connect().await;
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
}
