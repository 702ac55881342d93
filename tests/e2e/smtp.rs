//! An SMTP server of the tests' own on loopback: it takes every mail (or refuses the next
//! ones with a temporary error, when told) and keeps what it took for the test to read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One mail as the server took it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent (dot-unstuffed).
    pub data: String,
}

impl Mail {
    /// The value of a header (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = &mut value {
                if line.starts_with([' ', '\t']) {
                    current.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_string());
            }
        }
        value
    }
}

#[derive(Default)]
struct Shared {
    mails: std::sync::Mutex<Vec<Mail>>,
    refuse: AtomicU32,
    /// Addresses refused for good at `RCPT TO` (`550`).
    unknown: std::sync::Mutex<Vec<String>>,
    /// Mails still to be held without an answer.
    hang: AtomicU32,
    /// Mails held so far.
    held: AtomicU32,
    arrived: Notify,
}

pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, serving.clone()));
            }
        });
        Self {
            port,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Refuses the next `n` mails with `451` (try again later).
    pub fn refuse_next(&self, n: u32) {
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    /// Refuses `address` for good (`550 no such mailbox`) from now on.
    pub fn reject_recipient(&self, address: &str) {
        self.shared
            .unknown
            .lock()
            .unwrap()
            .push(address.to_string());
    }

    /// Falls silent at the next `n` mails' first command (a server that stops answering):
    /// the sender waits until it gives up or dies.
    pub fn hang_next(&self, n: u32) {
        self.shared.hang.store(n, Ordering::SeqCst);
    }

    /// Waits (at most 20 s) until at least `count` mails were held that way.
    pub async fn wait_for_held(&self, count: u32) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.shared.arrived.notified();
            if self.shared.held.load(Ordering::SeqCst) >= count {
                return;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrived).await.is_ok(),
                "no sender came to be held within 20 s"
            );
        }
    }

    /// Waits (at most 20 s) until a mail `matches`, and returns it.
    pub async fn wait_for_mail(&self, matches: impl Fn(&Mail) -> bool) -> Mail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.shared.arrived.notified();
            if let Some(mail) = self.mails().into_iter().find(|m| matches(m)) {
                return mail;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrived).await.is_ok(),
                "no such mail arrived within 20 s: {:?}",
                self.mails()
            );
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.mails.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until at least `count` mails arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.shared.arrived.notified();
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrived).await.is_ok(),
                "{} mail(s) arrived within 20 s, not {count}: {mails:?}",
                mails.len()
            );
        }
    }
}

async fn session(socket: tokio::net::TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            let hang = shared
                .hang
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if hang {
                shared.held.fetch_add(1, Ordering::SeqCst);
                shared.arrived.notify_waiters();
                // Silent until the sender hangs up (or dies).
                while let Ok(Some(_)) = lines.next_line().await {}
                return;
            }
            let refused = shared
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                b"451 4.3.0 try again later\r\n"
            } else {
                from = line[10..].trim().to_string();
                to.clear();
                b"250 OK\r\n"
            }
        } else if upper.starts_with("RCPT TO:") {
            let address = line[8..].trim().to_string();
            let unknown = shared
                .unknown
                .lock()
                .unwrap()
                .iter()
                .any(|refused| address.contains(refused.as_str()));
            if unknown {
                b"550 5.1.1 no such mailbox\r\n"
            } else {
                to.push(address);
                b"250 OK\r\n"
            }
        } else if upper == "DATA" {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            shared.mails.lock().unwrap().push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            shared.arrived.notify_waiters();
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 OK\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
