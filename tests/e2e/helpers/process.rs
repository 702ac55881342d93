//! The `helpdesk` binary as a child process: one-shot commands and running servers.

use std::process::Stdio;
use std::time::Duration;

use super::*;

/// The `helpdesk` binary, with no configuration inherited from the environment.
pub fn helpdesk(database: &TestDatabase) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"));
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if name.starts_with("HELPDESK_")
            || name.starts_with("OTEL_")
            || matches!(name.as_ref(), "DATABASE_URL" | "REDIS_URL" | "RUST_LOG")
        {
            command.env_remove(&var);
        }
    }
    command
        .env("DATABASE_URL", database.url())
        .env("HELPDESK_JWT_SECRET", TEST_JWT_SECRET)
        .env("HELPDESK_DATA_KEY", TEST_DATA_KEY)
        .current_dir(database.scratch_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to completion (at most a minute), optionally feeding it `stdin`.
pub async fn run(mut command: tokio::process::Command, stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("start helpdesk");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("helpdesk finished within a minute")
        .expect("helpdesk output");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A `helpdesk serve` process that has printed where it listens.
pub struct RunningServer {
    pub child: tokio::process::Child,
    pub address: String,
    /// What it printed to stdout up to the listening line.
    pub printed: Vec<String>,
}

impl RunningServer {
    /// Starts the command and waits (at most a minute) for its "listening on" line.
    pub async fn start(mut command: tokio::process::Command) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = command.spawn().expect("start helpdesk");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout pipe")).lines();
        let mut printed = Vec::new();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = stdout.next_line().await.expect("stdout") {
                printed.push(line.clone());
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return rest.trim().to_string();
                }
            }
            panic!("helpdesk exited before listening: {printed:?}");
        })
        .await
        .expect("listening within a minute");
        RunningServer {
            child,
            address,
            printed,
        }
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "SIGTERM was not delivered");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s of SIGTERM")
            .expect("exit status")
    }
}
