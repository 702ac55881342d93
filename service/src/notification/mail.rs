//! Notices by email: queued by the relay with the in-app ones (status `pending`), sent over
//! SMTP by a worker ([`send_due`]), retried with exponential backoff and jitter, `failed` after
//! [`MAX_ATTEMPTS`], or at once when refused for good (a 5xx answer: no such mailbox). A
//! refused recipient fails alone; the others go on.
//!
//! Every mail of a ticket carries the ticket's number in its subject (`[HD-1042] ...`) and
//! threads with the others in mail clients: `In-Reply-To` and `References` name the ticket's
//! thread (`<ticket-<id>@helpdesk>`), and a notice's `Message-ID` is made from its id, so a
//! retry (or a send after a crash) is the same message.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{NotificationChannel, NotificationKind, NotificationStatus};
use entity::{notification, user};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::Instrument;
use uuid::Uuid;

use crate::{Error, Result};

/// Attempts before a mail is given up (`failed`).
pub const MAX_ATTEMPTS: i32 = 8;

const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// An SMTP server to send through, and whom mail comes from.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Describes the server for logs (no password).
    server: String,
    /// How long one mail may take to send.
    timeout: std::time::Duration,
    /// Signs the unsubscribe links, and the base URL they start with.
    links: Option<(std::sync::Arc<crate::crypto::Keyring>, String)>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailer({} as {})", self.server, self.from)
    }
}

impl Mailer {
    /// `smtp://[user:password@]host[:port][?tls=required|opportunistic]` (STARTTLS), or
    /// `smtps://...` (TLS from the start); `from` like `Helpdesk <help@example.com>`.
    pub fn new(url: &str, from: &str) -> std::result::Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("HELPDESK_SMTP_URL: {e}"))?;
        let server = format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.port_or_known_default().unwrap_or(25)
        );
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("HELPDESK_SMTP_URL: {e}"))?
            .timeout(Some(DEFAULT_TIMEOUT))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("HELPDESK_MAIL_FROM {from:?}: {e}"))?;
        Ok(Self {
            transport,
            from,
            server,
            timeout: DEFAULT_TIMEOUT,
            links: None,
        })
    }

    /// Bounds the whole SMTP conversation of one mail (30 s unless set).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a mail in flight is held from other senders: its timeout and 5 s more, so a
    /// sender that died mid-conversation delays the mail by no more than that.
    pub fn lease(&self) -> Duration {
        Duration::from_std(self.timeout).unwrap_or(Duration::days(1)) + Duration::seconds(5)
    }

    /// Puts a one-click unsubscribe link in every mail: `base_url` (this server as recipients
    /// reach it) and the path of a link signed with `keyring`.
    pub fn with_unsubscribe(
        mut self,
        keyring: std::sync::Arc<crate::crypto::Keyring>,
        base_url: &str,
    ) -> Self {
        self.links = Some((keyring, base_url.trim_end_matches('/').to_string()));
        self
    }

    /// The unsubscribe link of a notice, when links are configured.
    pub fn unsubscribe_link(&self, notice: &notification::Model) -> Option<String> {
        let (keyring, base) = self.links.as_ref()?;
        let token = super::unsubscribe::sign(
            keyring,
            &super::unsubscribe::Unsubscribe {
                user_id: notice.user_id,
                kind: notice.kind,
                channel: NotificationChannel::Email,
            },
        );
        Some(format!("{base}{}", super::unsubscribe::path(&token)))
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends one mail to `to` at once (not a notice: no thread, no unsubscribe link), such as
    /// a password reset link; the outcome is the caller's to handle.
    pub async fn send_now(
        &self,
        to: &user::Model,
        title: &str,
        body: &str,
        reason: &str,
    ) -> std::result::Result<(), String> {
        let (text, html) = render_mail(title, body, reason, None)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(mailbox_of(to)?)
            .subject(title)
            .multipart(alternative(text, html))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the SMTP server did not finish within {} s",
                self.timeout.as_secs()
            )),
        }
    }
}

fn mailbox_of(to: &user::Model) -> std::result::Result<Mailbox, String> {
    format!("{} <{}>", to.name.replace(['<', '>', '"'], ""), to.email)
        .parse()
        .or_else(|_| to.email.parse())
        .map_err(|e| format!("recipient {}: {e}", to.email))
}

fn alternative(text: String, html: String) -> MultiPart {
    MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html),
        )
}

/// The wait before attempt `attempts + 1`: 30 s, 1, 2, 4 ... minutes, at most an hour, each
/// with up to a fifth more at random, so many failed mails do not all come back at once.
pub fn backoff(attempts: i32) -> Duration {
    let base = 30i64
        .saturating_mul(1i64 << attempts.clamp(0, 20))
        .min(3600);
    let jitter = rand::random_range(0..=base / 5);
    Duration::seconds(base + jitter)
}

/// The thread every mail of one ticket belongs to.
pub fn thread_id(ticket_id: Uuid) -> String {
    format!("<ticket-{ticket_id}@helpdesk>")
}

/// The `Message-ID` of a notice: the same at every attempt.
pub fn message_id(notice_id: Uuid) -> String {
    format!("<notification-{notice_id}@helpdesk>")
}

/// The mail templates (`templates/mail.txt`, `templates/mail.html`), built once; HTML is
/// escaped by the template engine.
static TEMPLATES: std::sync::LazyLock<
    std::result::Result<minijinja::Environment<'static>, String>,
> = std::sync::LazyLock::new(|| {
    let mut templates = minijinja::Environment::new();
    templates
        .add_template("mail.txt", include_str!("templates/mail.txt"))
        .and_then(|()| templates.add_template("mail.html", include_str!("templates/mail.html")))
        .map_err(|e| format!("mail templates: {e}"))?;
    Ok(templates)
});

/// Why a recipient gets a kind of notice, as the mail's footer says it.
fn reason(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Reply | NotificationKind::Status => "you raised this ticket",
        NotificationKind::Assigned
        | NotificationKind::RequesterReply
        | NotificationKind::SlaWarning
        | NotificationKind::SlaBreach => "the ticket is assigned to you",
        NotificationKind::Mention => "you were mentioned",
        NotificationKind::NewTicket => "you are staff of the ticket's organization",
        NotificationKind::Escalation => "an escalation of the ticket names you",
    }
}

/// The plain text and HTML of a notice, from the templates.
pub fn render(
    notice: &notification::Model,
    unsubscribe: Option<&str>,
) -> std::result::Result<(String, String), String> {
    render_mail(
        &notice.title,
        &notice.body,
        reason(notice.kind),
        unsubscribe,
    )
}

/// The plain text and HTML of a mail, from the templates: a title, a body, why the recipient
/// gets it, and its unsubscribe link, if any.
pub fn render_mail(
    title: &str,
    body: &str,
    reason: &str,
    unsubscribe: Option<&str>,
) -> std::result::Result<(String, String), String> {
    let templates = TEMPLATES.as_ref().map_err(Clone::clone)?;
    let values = minijinja::context! {
        title => title,
        body => body,
        reason => reason,
        unsubscribe_url => unsubscribe,
    };
    let render = |name: &str| {
        templates
            .get_template(name)
            .and_then(|template| template.render(&values))
            .map_err(|e| format!("{name}: {e}"))
    };
    Ok((render("mail.txt")?, render("mail.html")?))
}

/// `List-Unsubscribe: <url>` (RFC 2369).
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// `traceparent: <W3C trace context>`: the span that sent the mail, in the trace of the request
/// that made its event, for mail systems that trace.
#[derive(Clone)]
struct TraceParent(String);

impl Header for TraceParent {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(crate::trace::TRACEPARENT)
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The mail of a notice to `to`: plain text and HTML from the templates, with its unsubscribe
/// link and the sending span's trace context.
pub fn message_of(
    notice: &notification::Model,
    to: &user::Model,
    from: &Mailbox,
    unsubscribe: Option<&str>,
    traceparent: Option<String>,
) -> std::result::Result<Message, String> {
    let recipient = mailbox_of(to)?;
    let (text, html) = render(notice, unsubscribe)?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(recipient)
        .subject(notice.title.clone())
        .message_id(Some(message_id(notice.id)));
    if let Some(ticket_id) = notice.ticket_id {
        builder = builder
            .in_reply_to(thread_id(ticket_id))
            .references(thread_id(ticket_id));
    }
    if let Some(url) = unsubscribe {
        builder = builder
            .header(ListUnsubscribe(format!("<{url}>")))
            .header(ListUnsubscribePost);
    }
    if let Some(traceparent) = traceparent {
        builder = builder.header(TraceParent(traceparent));
    }
    builder
        .multipart(alternative(text, html))
        .map_err(|e| e.to_string())
}

/// What one round of [`send_due`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub sent: u64,
    pub retrying: u64,
    pub failed: u64,
}

/// Sends the mails due at `now` (at most `limit`). Each is claimed first (its next attempt
/// moved on by the mailer's lease, so another replica, or this server after a crash, leaves it
/// alone while it is being sent), then marked `sent`,
/// or given its next attempt, or `failed` after [`MAX_ATTEMPTS`].
pub async fn send_due(
    db: &impl ConnectionTrait,
    mailer: &Mailer,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Sent> {
    let due = notification::Entity::find()
        .filter(notification::Column::Channel.eq(NotificationChannel::Email))
        .filter(notification::Column::Status.eq(NotificationStatus::Pending))
        .filter(notification::Column::NextAttemptAt.lte(now))
        .order_by_asc(notification::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut report = Sent::default();
    for notice in due {
        // The claim: only one sender moves this attempt on.
        let claimed = notification::Entity::update_many()
            .col_expr(
                notification::Column::NextAttemptAt,
                // From the moment of the claim: earlier mails of the round took their time.
                Expr::value(now.max(Utc::now()) + mailer.lease()),
            )
            .filter(notification::Column::Id.eq(notice.id))
            .filter(notification::Column::Status.eq(NotificationStatus::Pending))
            .filter(notification::Column::NextAttemptAt.eq(notice.next_attempt_at))
            .exec(db)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        let recipient = user::Entity::find_by_id(notice.user_id).one(db).await?;
        let span =
            tracing::info_span!("email.send", otel.kind = "client", notification = %notice.id);
        crate::trace::continue_from(&span, notice.trace_parent.as_deref());
        let traceparent = crate::trace::headers_of(&span).remove(crate::trace::TRACEPARENT);
        // `Err((reason, permanent))`: a permanent refusal (5xx, no such recipient, an address
        // that is no address) is not tried again.
        let outcome: std::result::Result<(), (String, bool)> = match &recipient {
            Some(to) => match message_of(
                &notice,
                to,
                &mailer.from,
                mailer.unsubscribe_link(&notice).as_deref(),
                traceparent,
            ) {
                Ok(message) => {
                    let sending = mailer.transport.send(message).instrument(span);
                    match tokio::time::timeout(mailer.timeout, sending).await {
                        Ok(sent) => sent
                            .map(|_| ())
                            .map_err(|e| (e.to_string(), e.is_permanent())),
                        Err(_) => Err((
                            format!(
                                "the SMTP server did not finish within {} s",
                                mailer.timeout.as_secs()
                            ),
                            false,
                        )),
                    }
                }
                Err(e) => Err((e, true)),
            },
            None => Err(("the recipient no longer exists".into(), true)),
        };
        let attempts = notice.attempts + 1;
        let mut update = notification::Entity::update_many()
            .col_expr(notification::Column::Attempts, Expr::value(attempts))
            .filter(notification::Column::Id.eq(notice.id));
        match outcome {
            Ok(()) => {
                update = update
                    .col_expr(
                        notification::Column::Status,
                        Expr::value(NotificationStatus::Sent),
                    )
                    .col_expr(notification::Column::SentAt, Expr::value(Utc::now()))
                    .col_expr(
                        notification::Column::LastError,
                        Expr::value(Option::<String>::None),
                    );
                report.sent += 1;
            }
            Err((reason, permanent)) if permanent || attempts >= MAX_ATTEMPTS => {
                tracing::warn!(notification = %notice.id, %reason, attempts, "a mail failed for good");
                update = update
                    .col_expr(
                        notification::Column::Status,
                        Expr::value(NotificationStatus::Failed),
                    )
                    .col_expr(notification::Column::LastError, Expr::value(Some(reason)));
                report.failed += 1;
            }
            Err((reason, _)) => {
                tracing::info!(notification = %notice.id, %reason, attempts, "a mail was not accepted; will try again");
                update = update
                    .col_expr(
                        notification::Column::NextAttemptAt,
                        Expr::value(now + backoff(attempts)),
                    )
                    .col_expr(notification::Column::LastError, Expr::value(Some(reason)));
                report.retrying += 1;
            }
        }
        update.exec(db).await.map_err(Error::from)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(body: &str) -> notification::Model {
        notification::Model {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            event_id: None,
            ticket_id: None,
            kind: NotificationKind::Reply,
            channel: NotificationChannel::Email,
            title: "[HD-1] New reply: <b>Printer</b>".into(),
            body: body.into(),
            status: NotificationStatus::Pending,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            read_at: None,
            created_at: Utc::now(),
            sent_at: None,
            trace_parent: None,
        }
    }

    #[test]
    fn both_parts_carry_the_notice_and_the_html_is_escaped() {
        let (text, html) = render(
            &notice("Try <script>alert(1)</script> & reboot"),
            Some("https://help.example/notifications/unsubscribe/abc?x=1&y=2"),
        )
        .unwrap();
        assert!(text.starts_with("[HD-1] New reply: <b>Printer</b>\n\nTry <script>"));
        assert!(text.contains("because you raised this ticket"));
        assert!(text.contains(
            "Stop these mails: https://help.example/notifications/unsubscribe/abc?x=1&y=2"
        ));
        assert!(
            html.contains("Try &lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; reboot"),
            "{html}"
        );
        assert!(!html.contains("<b>Printer"));
        assert!(
            html.contains("href=\"https:&#x2f;&#x2f;help.example"),
            "{html}"
        );
    }

    #[test]
    fn without_a_link_there_is_no_footer() {
        let (text, html) = render(&notice("Done."), None).unwrap();
        assert!(!text.contains("Stop these mails"));
        assert!(!html.contains("<hr>"));
    }
}
