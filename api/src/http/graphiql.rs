//! GraphiQL at `GET /graphql`, from files built into the binary (`api/assets/graphiql/`, whose
//! README names their packages, versions and licences): the page works without the internet
//! and loads nothing this server did not ship.
//!
//! The files are served under `/graphql/assets/<content hash>/<name>` and cached for a year:
//! a new build with different bytes gets new addresses, and an address whose hash is not the
//! file's current one is 404, so a cache never holds stale bytes under a current address.
//! The page itself is never cached and carries a Content-Security-Policy that allows this
//! origin only.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

struct File {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! file {
    ($name:literal, $content_type:literal) => {
        File {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../assets/graphiql/", $name)),
        }
    };
}

static FILES: [File; 6] = [
    file!(
        "react-18.3.1.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    file!(
        "react-dom-18.3.1.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    file!("graphiql-3.9.0.min.js", "text/javascript; charset=utf-8"),
    file!("graphiql-3.9.0.min.css", "text/css; charset=utf-8"),
    file!("page.css", "text/css; charset=utf-8"),
    file!("init.js", "text/javascript; charset=utf-8"),
];

/// Each file with the hash of its bytes, computed once.
static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|file| format!("{:016x}", fnv1a(file.body)))
        .collect()
});

/// 64-bit FNV-1a: not for security, only so that other bytes get another address.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn address(name: &str) -> String {
    FILES
        .iter()
        .zip(HASHES.iter())
        .find(|(file, _)| file.name == name)
        .map(|(file, hash)| format!("/graphql/assets/{hash}/{}", file.name))
        .unwrap_or_default()
}

/// The page's Content-Security-Policy. `style-src` adds a per-response nonce to 'self': the
/// scroll lock of GraphiQL's dialogs (react-remove-scroll) inserts a `<style>` element, which
/// takes the nonce from `__webpack_nonce__` (set by `init.js` from the page). Fonts are
/// `data:` URLs inside GraphiQL's stylesheet, hence `font-src data:`, and so are a few of its
/// images, hence `img-src data:` (which also covers the empty favicon).
fn policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; \
         font-src 'self' data:; style-src 'self' 'nonce-{nonce}'; object-src 'none'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// `GET /graphql` for a browser.
pub fn page(state: &AppState) -> Response {
    if !state.graphiql() {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is turned off on this server",
        )
            .into_response();
    }
    // Fresh per response, unguessable: a nonce that an attacker could know would let injected
    // markup style the page.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="style-nonce" content="{nonce}">
<title>helpdesk GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{graphiql_css}">
<link rel="stylesheet" href="{page_css}">
<script defer src="{react}"></script>
<script defer src="{react_dom}"></script>
<script defer src="{graphiql}"></script>
<script defer src="{init}"></script>
</head>
<body>
<div id="graphiql"></div>
</body>
</html>
"#,
        graphiql_css = address("graphiql-3.9.0.min.css"),
        page_css = address("page.css"),
        react = address("react-18.3.1.production.min.js"),
        react_dom = address("react-dom-18.3.1.production.min.js"),
        graphiql = address("graphiql-3.9.0.min.js"),
        init = address("init.js"),
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&policy(&nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /graphql/assets/{hash}/{name}`.
pub async fn asset(
    State(state): State<AppState>,
    Path((hash, name)): Path<(String, String)>,
) -> Response {
    let found = FILES
        .iter()
        .zip(HASHES.iter())
        .find(|(file, current)| file.name == name && **current == hash);
    match found {
        Some((file, _)) if state.graphiql() => (
            [
                (header::CONTENT_TYPE, file.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            file.body,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_served_and_hashed() {
        for file in &FILES {
            let address = address(file.name);
            assert!(
                address.starts_with("/graphql/assets/") && address.ends_with(file.name),
                "{address}"
            );
            assert!(!file.body.is_empty(), "{} is empty", file.name);
        }
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
