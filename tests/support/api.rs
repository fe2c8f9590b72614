//! A small REST client that speaks like the web page or a script would: a session
//! cookie with the CSRF header, or a bearer token.

use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    csrf: Option<String>,
    bearer: Option<String>,
    request_id: Option<String>,
}

impl Api {
    pub fn new(http: reqwest::Client, base: String) -> Api {
        Api {
            http,
            base,
            csrf: None,
            bearer: None,
            request_id: None,
        }
    }

    /// The same server, authenticated with an API token only.
    pub fn with_token(&self, token: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            csrf: None,
            bearer: Some(token.to_owned()),
            request_id: None,
        }
    }

    /// The same cookies, but without the CSRF header.
    pub fn without_csrf(&self) -> Api {
        Api {
            csrf: None,
            ..self.clone()
        }
    }

    /// This client, sending `id` as every request's `x-request-id` (the audit log
    /// keeps it).
    pub fn with_request_id(&self, id: &str) -> Api {
        Api {
            request_id: Some(id.to_owned()),
            ..self.clone()
        }
    }

    /// This client, sending `csrf` as the session's CSRF token.
    pub fn with_csrf(mut self, csrf: &str) -> Api {
        self.csrf = Some(csrf.to_owned());
        self
    }

    pub async fn login(&mut self, email: &str, password: &str) {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "sign-in as {email} failed: {body}");
        self.csrf = Some(body["csrf_token"].as_str().expect("csrf token").to_owned());
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.csrf {
            req = req.header("x-csrf-token", c);
        }
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        if let Some(id) = &self.request_id {
            req = req.header("x-request-id", id);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// A POST whose response headers matter (Set-Cookie).
    pub async fn raw_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// A GET whose response is not JSON (the page, an archive).
    pub async fn raw_get(&self, path: &str) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request reaches the server")
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Adds a synchronization and returns (Application ID, Secret Token).
    pub async fn add_sync(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/synchronizations",
                serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn agents(&self, sync_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/v1/synchronizations/{sync_id}/agents"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }
}

/// Asserts the one error shape of architecture §7.4 and returns its code.
pub fn error_code(body: &Value) -> &str {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not the error shape: {body}"));
    assert!(
        body["error"]["message"].is_string(),
        "error without a message: {body}"
    );
    code
}
