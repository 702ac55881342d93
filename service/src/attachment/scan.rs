//! Virus scanning with ClamAV's `clamd`, over its INSTREAM command: the file is decrypted as it
//! is read from storage and streamed to the scanner, never held whole.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

/// Where `clamd` listens: `tcp://host:port` (or `host:port`), or `unix:/path` (or a path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    Tcp(String),
    Unix(std::path::PathBuf),
}

impl ClamdAddr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("unix:") {
            let path = path.trim_start_matches("//");
            if path.is_empty() {
                return Err(format!("{text}: expected unix:/path/to/clamd.sock"));
            }
            return Ok(Self::Unix(path.into()));
        }
        if text.starts_with('/') {
            return Ok(Self::Unix(text.into()));
        }
        let host_port = text.strip_prefix("tcp://").unwrap_or(text);
        match host_port.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Self::Tcp(host_port.to_string()))
            }
            _ => Err(format!(
                "{text}: expected tcp://host:port or unix:/path/to/clamd.sock"
            )),
        }
    }
}

impl std::fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// What the scanner said of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature that matched.
    Infected(String),
}

/// A `clamd` to scan with.
#[derive(Debug, Clone)]
pub struct Scanner {
    addr: ClamdAddr,
    timeout: Duration,
}

impl Scanner {
    pub fn new(addr: ClamdAddr) -> Self {
        Self {
            addr,
            timeout: Duration::from_secs(120),
        }
    }

    pub fn addr(&self) -> &ClamdAddr {
        &self.addr
    }

    /// Whether `clamd` answers `PING`.
    pub async fn ping(&self) -> Result<(), String> {
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            match &self.addr {
                ClamdAddr::Tcp(host) => {
                    clamav_client::tokio::ping(clamav_client::tokio::Tcp {
                        host_address: host.as_str(),
                    })
                    .await
                }
                ClamdAddr::Unix(path) => {
                    clamav_client::tokio::ping(clamav_client::tokio::Socket {
                        socket_path: path.as_path(),
                    })
                    .await
                }
            }
        })
        .await
        .map_err(|_| "clamd did not answer PING within 5 s".to_string())?
        .map_err(|e| format!("clamd at {}: {e}", self.addr))?;
        if answer.starts_with(b"PONG") {
            Ok(())
        } else {
            Err(format!(
                "clamd at {} answered PING with {:?}",
                self.addr,
                String::from_utf8_lossy(&answer)
            ))
        }
    }

    /// Streams `content` to `clamd`. An error (unreachable, timed out, a stream it refused)
    /// is a failed scan, to be tried again; only `OK` is clean and only `FOUND` infected.
    pub async fn scan<S>(&self, content: S) -> Result<Verdict, String>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>>,
    {
        let chunk = Some(64 * 1024);
        let answer = tokio::time::timeout(self.timeout, async {
            match &self.addr {
                ClamdAddr::Tcp(host) => {
                    let to = clamav_client::tokio::Tcp {
                        host_address: host.as_str(),
                    };
                    clamav_client::tokio::scan_stream(content, to, chunk).await
                }
                ClamdAddr::Unix(path) => {
                    let to = clamav_client::tokio::Socket {
                        socket_path: path.as_path(),
                    };
                    clamav_client::tokio::scan_stream(content, to, chunk).await
                }
            }
        })
        .await
        .map_err(|_| format!("clamd did not answer within {:?}", self.timeout))?
        .map_err(|e| format!("clamd at {}: {e}", self.addr))?;
        verdict_of(&answer)
    }
}

/// `stream: OK`, `stream: <signature> FOUND`, or anything else (an error).
pub fn verdict_of(answer: &[u8]) -> Result<Verdict, String> {
    let text = String::from_utf8_lossy(answer);
    let text = text.trim_end_matches(['\0', '\n', ' ']);
    let body = text.strip_prefix("stream: ").unwrap_or(text);
    if body == "OK" {
        Ok(Verdict::Clean)
    } else if let Some(signature) = body.strip_suffix(" FOUND") {
        Ok(Verdict::Infected(signature.trim().to_string()))
    } else if text.is_empty() {
        Err("clamd closed the connection without a verdict".into())
    } else {
        Err(format!("clamd: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            ClamdAddr::parse("tcp://127.0.0.1:3310").unwrap(),
            ClamdAddr::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            ClamdAddr::parse("clamav:3310").unwrap(),
            ClamdAddr::Tcp("clamav:3310".into())
        );
        assert_eq!(
            ClamdAddr::parse("unix:/run/clamav/clamd.ctl").unwrap(),
            ClamdAddr::Unix("/run/clamav/clamd.ctl".into())
        );
        assert!(ClamdAddr::parse("tcp://nohost").is_err());
        assert!(ClamdAddr::parse("unix:").is_err());
    }

    #[test]
    fn only_ok_is_clean_and_only_found_is_infected() {
        assert_eq!(verdict_of(b"stream: OK\0"), Ok(Verdict::Clean));
        assert_eq!(
            verdict_of(b"stream: Eicar-Test-Signature FOUND\0"),
            Ok(Verdict::Infected("Eicar-Test-Signature".into()))
        );
        assert!(verdict_of(b"INSTREAM size limit exceeded. ERROR\0").is_err());
        assert!(verdict_of(b"").is_err());
    }
}
