//! The admin web page (architecture §1): plain ES modules and CSS from `web/`, embedded in
//! the binary at build time, so the server needs nothing else installed. The page is a
//! client of the public REST API, nothing more.

use crate::state::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($path:literal => $ct:expr),* $(,)?) => {
        &[$(Asset { path: $path, content_type: $ct, body: include_str!(concat!("../../../web/", $path)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `web/`; a test checks that none is missing.
const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "js/api.js" => JS,
    "js/app.js" => JS,
    "js/chart.js" => JS,
    "js/dom.js" => JS,
    "js/format.js" => JS,
    "js/pages/account.js" => JS,
    "js/pages/admins.js" => JS,
    "js/pages/audit.js" => JS,
    "js/pages/downloads.js" => JS,
    "js/pages/group.js" => JS,
    "js/pages/groups.js" => JS,
    "js/pages/notifications.js" => JS,
    "js/pages/run.js" => JS,
    "js/pages/signin.js" => JS,
    "js/pages/sync.js" => JS,
    "js/pages/syncs.js" => JS,
    "js/pages/tokens.js" => JS,
    "js/pages/user.js" => JS,
    "js/pages/users.js" => JS,
};

/// No inline script, no inline style, nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(p): Path<String>| async move { serve(&p) }),
        )
}

fn serve(path: &str) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    (
        [
            (CONTENT_TYPE, a.content_type),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (X_FRAME_OPTIONS, "DENY"),
            (REFERRER_POLICY, "no-referrer"),
            // Revalidate every time: a new server version is seen at once.
            (CACHE_CONTROL, "no-cache"),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::ASSETS;
    use std::path::Path;

    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }

    #[test]
    fn every_file_of_web_is_served() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        for f in files {
            assert!(
                ASSETS.iter().any(|a| a.path == f),
                "web/{f} is not listed in routes/web.rs ASSETS"
            );
        }
    }
}
