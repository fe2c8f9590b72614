//! A webhook receiver on loopback, as a customer would write one: it checks each
//! request's HMAC-SHA256 signature with the key it was given, answers 503 to the first
//! `fail_first` attempts of every delivery, and keeps what it accepted.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Received {
    pub event: String,
    pub delivery: String,
    pub event_id: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    secret: Option<String>,
    fail_first: u32,
    /// Refuse everything (a receiver that is down).
    down: bool,
    attempts: HashMap<String, u32>,
    accepted: Vec<Received>,
    bad_signatures: u32,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

impl Receiver {
    /// Starts listening on 127.0.0.1; `url` is where to point an endpoint.
    pub async fn start(fail_first: u32) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            fail_first,
            ..Inner::default()
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { inner, url }
    }

    /// The key the endpoint was created with.
    pub fn set_secret(&self, secret: &str) {
        self.inner.lock().unwrap().secret = Some(secret.to_owned());
    }

    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.inner.lock().unwrap().accepted.clone()
    }

    /// Requests whose signature did not match the key.
    pub fn bad_signatures(&self) -> u32 {
        self.inner.lock().unwrap().bad_signatures
    }

    /// Attempts made for one delivery, accepted or not.
    pub fn attempts(&self, delivery: &str) -> u32 {
        self.inner
            .lock()
            .unwrap()
            .attempts
            .get(delivery)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until an accepted notification of `event` satisfies `f`.
    pub async fn wait_for(&self, event: &str, f: impl Fn(&Received) -> bool) -> Received {
        crate::eventually(
            std::time::Duration::from_secs(30),
            &format!("a {event} webhook"),
            || async {
                self.accepted()
                    .into_iter()
                    .find(|r| r.event == event && f(r))
            },
        )
        .await
    }
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut s = inner.lock().unwrap();
    let delivery = header(&headers, "x-adc-delivery");
    let n = {
        let n = s.attempts.entry(delivery.clone()).or_default();
        *n += 1;
        *n
    };
    let Some(secret) = s.secret.clone() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let timestamp = header(&headers, "x-adc-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if header(&headers, "x-adc-signature") != format!("sha256={expected}") {
        s.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if s.down || n <= s.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    s.accepted.push(Received {
        event: header(&headers, "x-adc-event"),
        delivery,
        event_id: header(&headers, "x-adc-event-id"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    StatusCode::NO_CONTENT
}
