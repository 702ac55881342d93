//! The browser surface: GraphiQL from the binary's own files under a strict
//! Content-Security-Policy, security headers, CORS for configured origins, the `Origin` check
//! on WebSocket upgrades — and GraphiQL driven in a real headless Chromium over the DevTools
//! protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};

const DASHBOARD: &str = "https://dashboard.example.com";

async fn with_dashboard() -> TestApp {
    TestApp::spawn_with(|s| s.server.cors_origins = vec![DASHBOARD.to_string()]).await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The `src`/`href` values of the page that point at its own assets.
fn asset_paths(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|part| part.starts_with("/graphql/assets/"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn graphiql_is_one_page_of_built_in_assets_under_a_content_security_policy() {
    let app = TestApp::spawn().await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    let policy = header(&page, "content-security-policy")
        .expect("a Content-Security-Policy")
        .to_string();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&page, "referrer-policy"), Some("no-referrer"));
    let html = page.text().await.unwrap();

    // No inline script, and nothing from anywhere else.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script defer src=\"/graphql/assets/").count(),
        "every script is one of the page's assets:\n{html}"
    );
    assert!(
        !html.contains("//cdn") && !html.contains("https://"),
        "{html}"
    );

    let assets = asset_paths(&html);
    assert_eq!(assets.len(), 6, "{html}");
    for path in &assets {
        let asset = app.get(path).await;
        assert_eq!(asset.status(), 200, "{path}");
        let expected = if path.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            header(&asset, "content-type").is_some_and(|v| v.starts_with(expected)),
            "{path}: {:?}",
            asset.headers()
        );
        assert_eq!(
            header(&asset, "cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        assert_eq!(header(&asset, "x-content-type-options"), Some("nosniff"));
    }

    // An address whose hash is not the file's is not served: it could be cached for a year.
    let init = assets.iter().find(|p| p.ends_with("/init.js")).unwrap();
    let stale = init.replace("/graphql/assets/", "/graphql/assets/0");
    assert_eq!(app.get(&stale).await.status(), 404);

    let off = TestApp::spawn_with(|s| s.server.graphiql = false).await;
    assert_eq!(off.get("/graphql").await.status(), 404);
    assert_eq!(off.get(init).await.status(), 404);
}

#[tokio::test]
async fn security_headers_are_on_json_and_plain_responses_too() {
    let app = TestApp::spawn().await;
    let post = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "{ serverInfo { version } }" }))
        .send()
        .await
        .unwrap();
    let refused = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    let health = app.get("/healthz").await;
    for response in [&post, &refused, &health] {
        assert_eq!(
            header(response, "x-content-type-options"),
            Some("nosniff"),
            "{:?}",
            response.headers()
        );
        assert_eq!(header(response, "referrer-policy"), Some("no-referrer"));
        // Only HTML gets a frame ban and a page policy.
        assert_eq!(header(response, "x-frame-options"), None);
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("OPTIONS /graphql")
}

#[tokio::test]
async fn a_preflight_from_a_configured_origin_is_allowed_for_that_origin() {
    let app = with_dashboard().await;
    let response = preflight(&app, DASHBOARD).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(DASHBOARD)
    );
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    let headers = header(&response, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "accept", "x-request-id"] {
        assert!(headers.contains(name), "{name} not allowed: {headers}");
    }
    assert!(header(&response, "access-control-max-age").is_some());
    // Bearer tokens, never cookies: credentials are not part of the deal.
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn a_preflight_from_any_other_origin_gets_no_cors_headers() {
    let configured = with_dashboard().await;
    let unconfigured = TestApp::spawn().await;
    for (app, origin) in [
        (&configured, "https://evil.example"),
        (&configured, "https://dashboard.example.com.evil.example"),
        (&configured, "http://dashboard.example.com"),
        (&unconfigured, DASHBOARD),
    ] {
        let response = preflight(app, origin).await;
        let cors: Vec<_> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{origin}: {cors:?}");
    }
}

#[tokio::test]
async fn a_request_from_a_configured_origin_carries_the_allow_origin_header() {
    let app = with_dashboard().await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", DASHBOARD)
        .json(&json!({ "query": "{ serverInfo { version } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(DASHBOARD)
    );
    assert!(
        header(&response, "access-control-expose-headers")
            .is_some_and(|v| v.to_ascii_lowercase().contains("x-request-id")),
        "{:?}",
        response.headers()
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["data"]["serverInfo"]["version"].is_string(), "{body}");

    let other = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "{ serverInfo { version } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&other, "access-control-allow-origin"), None);
    assert!(
        header(&other, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")),
        "{:?}",
        other.headers()
    );
}

/// The status of a WebSocket handshake to `path` with the given `Origin`: 101 when it opened.
async fn upgrade_status(app: &TestApp, path: &str, origin: Option<&str>) -> u16 {
    let url = format!("{}{path}", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(origin) = origin {
        headers.insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, response)) => {
            let _ = socket.close(None).await;
            response.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("{path} with Origin {origin:?}: {err}"),
    }
}

#[tokio::test]
async fn websocket_upgrades_from_a_foreign_origin_are_refused() {
    let app = with_dashboard().await;
    let own = app.address.clone();
    for path in ["/graphql/ws", "/graphql"] {
        for (origin, status) in [
            (Some("https://evil.example"), 403),
            (Some("null"), 403),
            (Some(DASHBOARD), 101),
            (Some(own.as_str()), 101),
            (None, 101),
        ] {
            assert_eq!(
                upgrade_status(&app, path, origin).await,
                status,
                "{path} with Origin {origin:?}"
            );
        }
    }
}

// --- A real browser ---------------------------------------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where Chromium is: `/usr/bin/chromium`, or `chromium` on the `PATH`.
fn chromium() -> Option<std::path::PathBuf> {
    let fixed = std::path::PathBuf::from("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
}

/// A headless Chromium driven over the DevTools protocol, with one page attached.
struct Browser {
    child: tokio::process::Child,
    socket: Socket,
    next_id: u64,
    session: Option<String>,
    /// Every event received so far, in order.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

const STEP: Duration = Duration::from_secs(10);

impl Browser {
    /// Starts Chromium, or says why it cannot: `None` when it is not installed and `CI` is
    /// not set (CI installs it, so there a missing browser fails the test).
    async fn launch() -> Option<Self> {
        let Some(binary) = chromium() else {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
            assert!(
                !ci,
                "CI is set but Chromium is missing (neither /usr/bin/chromium nor chromium on PATH)"
            );
            eprintln!(
                "skipped: Chromium is not installed (neither /usr/bin/chromium nor chromium on \
                 PATH); install Debian's `chromium` to run this test"
            );
            return None;
        };
        let profile = tempfile::tempdir().expect("profile directory");
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start Chromium");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut said = Vec::new();
        let url = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = stderr.next_line().await.expect("Chromium's stderr") {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return url.trim().to_string();
                }
                said.push(line);
            }
            panic!("Chromium exited without a DevTools address: {said:#?}");
        })
        .await
        .expect("Chromium's DevTools address within 20 s");
        // Keep draining stderr, so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to DevTools");
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            session: None,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        browser.session = Some(attached["sessionId"].as_str().expect("a session").into());
        Some(browser)
    }

    /// Sends a command (to the page once one is attached) and waits for its answer; events
    /// that arrive meanwhile are kept.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(command.to_string().into()))
            .await
            .expect("send to DevTools");
        loop {
            let message = tokio::time::timeout(STEP, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within {STEP:?}"))
                .expect("DevTools socket open")
                .expect("a DevTools frame");
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if message["id"] == id {
                assert!(message["error"].is_null(), "{method}: {message}");
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    /// Evaluates an expression in the page and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression} threw: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it yields something other than null or false, for at most
    /// `limit`.
    async fn wait_for(&mut self, what: &str, expression: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let value = self.eval(expression).await;
            if !value.is_null() && value != json!(false) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} did not happen within {limit:?}; console and log: {:#?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn events_of(&self, method: &str) -> impl Iterator<Item = &Value> {
        self.events.iter().filter(move |e| e["method"] == method)
    }

    /// The page's console and log messages.
    fn messages(&self) -> Vec<String> {
        let console = self.events_of("Runtime.consoleAPICalled").map(|e| {
            let args: Vec<String> = e["params"]["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a["value"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a["description"].to_string())
                })
                .collect();
            format!("console.{}: {}", e["params"]["type"], args.join(" "))
        });
        let log = self.events_of("Log.entryAdded").map(|e| {
            format!(
                "log ({}): {}",
                e["params"]["entry"]["source"], e["params"]["entry"]["text"]
            )
        });
        let thrown = self
            .events_of("Runtime.exceptionThrown")
            .map(|e| format!("exception: {}", e["params"]["exceptionDetails"]));
        console.chain(log).chain(thrown).collect()
    }

    async fn close(mut self) {
        let _ = self.call("Browser.close", json!({})).await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The CodeMirror instance of the editor matching `selector`, as a JavaScript expression.
fn editor(selector: &str) -> String {
    format!("document.querySelector({selector:?}).CodeMirror")
}

const QUERY_EDITOR: &str = ".graphiql-query-editor .CodeMirror";
const RESPONSE: &str = ".graphiql-response .CodeMirror";

#[tokio::test]
async fn graphiql_runs_a_query_and_a_subscription_in_chromium_without_leaving_the_machine() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let origin = app.address.clone();

    // Every page request, with the page's own report of CSP violations: DevTools scripts run
    // whatever the policy says.
    for domain in ["Network", "Log", "Runtime", "Page"] {
        browser.call(&format!("{domain}.enable"), json!({})).await;
    }
    browser
        .call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": "window.__violations = []; document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));" }),
        )
        .await;

    // The initial query comes from the page address's fragment.
    let query = "{ serverInfo { version database } }";
    let fragment: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish();
    browser
        .call(
            "Page.navigate",
            json!({ "url": format!("{origin}/graphql#{fragment}") }),
        )
        .await;
    let shown = browser
        .wait_for(
            "GraphiQL rendering",
            &format!(
                "document.querySelector('.graphiql-container') && document.querySelector({QUERY_EDITOR:?}) && {}.getValue()",
                editor(QUERY_EDITOR)
            ),
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(
        shown, query,
        "the query editor holds the query from the address"
    );

    browser
        .eval("document.querySelector('.graphiql-execute-button').click()")
        .await;
    let text = browser
        .wait_for(
            "the query's result",
            &format!(
                "(() => {{ const cm = document.querySelector({RESPONSE:?}); const v = cm && cm.CodeMirror.getValue(); return v && v.includes('serverInfo') ? v : null; }})()"
            ),
            STEP,
        )
        .await;
    let result: Value = serde_json::from_str(text.as_str().unwrap()).expect("JSON in the pane");
    let database = if app.database.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(
        result["data"]["serverInfo"]["database"], database,
        "{result}"
    );

    // A subscription from the page: the token goes in the Headers pane, and the page hands it
    // to the socket's connection_init.
    browser
        .eval("document.querySelector('.graphiql-editor-tools button[data-name=\"headers\"]').click()")
        .await;
    let headers = json!({ "Authorization": format!("Bearer {admin}") }).to_string();
    browser
        .wait_for(
            "the Headers pane",
            &format!(
                "(() => {{ const cm = document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror'); if (!cm) return null; cm.CodeMirror.setValue({headers:?}); return true; }})()"
            ),
            STEP,
        )
        .await;
    let subscription = "subscription { ticketEvents(filter: { kinds: [COMMENT_CREATED] }) { kind comment { body } } }";
    browser
        .eval(&format!(
            "{}.setValue({subscription:?})",
            editor(QUERY_EDITOR)
        ))
        .await;
    // GraphiQL parses the editor's text a moment after a change, and picks the transport from
    // that parse: wait for it, as a person typing would.
    browser
        .wait_for(
            "GraphiQL parsing the subscription",
            &format!(
                "(() => {{ const ast = {}.documentAST; return !!ast && ast.definitions[0].operation === 'subscription'; }})()",
                editor(QUERY_EDITOR)
            ),
            STEP,
        )
        .await;
    browser
        .eval("document.querySelector('.graphiql-execute-button').click()")
        .await;
    crate::subscriptions::listening(&app.address, 1).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let comment = app
        .graphql_as(
            &client,
            "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
            json!({ "input": { "ticketId": gid("Ticket", world.ticket_a), "body": "Hello from the browser test" } }),
        )
        .await;
    assert!(
        comment["data"]["commentCreate"]["comment"].is_object(),
        "{comment}"
    );
    browser
        .wait_for(
            "the subscription's event",
            &format!(
                "(() => {{ const v = document.querySelector({RESPONSE:?}).CodeMirror.getValue(); return v.includes('Hello from the browser test') ? v : null; }})()"
            ),
            STEP,
        )
        .await;

    // A dialog: its scroll lock inserts a <style> element, allowed by the page's nonce.
    browser
        .eval("document.querySelector('button[data-value=\"settings\"]').click()")
        .await;
    browser
        .wait_for(
            "the settings dialog",
            "!!document.querySelector('[role=\"dialog\"]')",
            STEP,
        )
        .await;

    // Also takes in every event sent before this point.
    let violations = browser.eval("window.__violations").await;
    let messages = browser.messages();
    assert_eq!(violations, json!([]), "CSP violations; log: {messages:#?}");
    let csp: Vec<_> = messages
        .iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Content-Security-Policy"))
        .collect();
    assert!(csp.is_empty(), "{csp:#?}");

    // Nothing left the machine: every request went to this server (or was a data: URL).
    let own_ws = origin.replace("http://", "ws://");
    let requests: Vec<String> = browser
        .events_of("Network.requestWillBeSent")
        .map(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .chain(
            browser
                .events_of("Network.webSocketCreated")
                .map(|e| e["params"]["url"].as_str().unwrap_or_default().to_string()),
        )
        .collect();
    assert!(
        requests.iter().any(|url| url.ends_with("/init.js")),
        "the page's requests were not recorded: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|url| url.starts_with(&format!("{own_ws}/graphql/ws"))),
        "no subscription socket: {requests:#?}"
    );
    let elsewhere: Vec<_> = requests
        .iter()
        .filter(|url| {
            !(url.starts_with(&format!("{origin}/"))
                || url.starts_with(&format!("{own_ws}/"))
                || url.starts_with("data:"))
        })
        .collect();
    assert!(elsewhere.is_empty(), "requests elsewhere: {elsewhere:#?}");

    browser.close().await;
}
