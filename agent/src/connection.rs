//! One connection to the server (architecture §7.3): the upgrade authenticated with Basic
//! credentials, then `hello` and the server's `welcome` or reasoned refusal.

use crate::env::ServerAccess;
use adc_shared::protocol::{self, AgentMessage, Hello, MAX_MESSAGE_BYTES, ServerMessage, Welcome};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a connection did not come up. Each says what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the server refused the credentials ({0}): check {auth} — the Application ID and Secret Token from the admin page; a rotated secret must be replaced", auth = crate::env::AUTH)]
    Refused(String),
    #[error("the server refused the connection: {0}")]
    Rejected(String),
    #[error("incompatible protocol: {0}")]
    Incompatible(String),
    /// The message names the server's address and what to check.
    #[error("{0}")]
    Network(String),
}

impl ConnectError {
    /// Failures a retry with the same configuration will meet again.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConnectError::Refused(_) | ConnectError::Incompatible(_)
        )
    }
}

pub struct Connection {
    pub socket: Socket,
    pub welcome: Welcome,
}

/// The message of an API error body `{"error": {"message": ...}}`, else the status.
fn http_reason(resp: &tungstenite::http::Response<Option<Vec<u8>>>) -> String {
    let message = resp
        .body()
        .as_deref()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned));
    match message {
        Some(m) => format!("HTTP {}: {m}", resp.status().as_u16()),
        None => format!("HTTP {}", resp.status()),
    }
}

/// A connection to the server that failed below HTTP: the address, the cause said
/// once, and what to check.
fn network(access: &ServerAccess, e: &tungstenite::Error) -> ConnectError {
    let text = crate::explain::chain(e);
    let what = format!("cannot reach the server at {}", access.url);
    let addr = crate::env::ADDR;
    let lower = text.to_lowercase();
    let message = if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        format!(
            "{what}: TLS failed: the server answered without TLS ({text}); is it speaking plain HTTP? then use ws:// or http:// in {addr}"
        )
    } else if lower.contains("certificate") {
        format!(
            "{what}: its TLS certificate is not trusted ({text}); set {} to the PEM file of the CA that signed it",
            crate::env::CA
        )
    } else if let tungstenite::Error::Io(io) = e {
        crate::explain::io(&what, addr, io)
    } else {
        format!("{what}: {text}; check {addr}")
    };
    ConnectError::Network(message)
}

pub async fn connect(
    access: &ServerAccess,
    tls: Arc<ClientConfig>,
    hello: Hello,
) -> Result<Connection, ConnectError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(access, tls, hello))
        .await
        .unwrap_or_else(|_| {
            Err(ConnectError::Network(format!(
                "cannot reach the server at {}: no answer within {} s; check {} and any firewall or proxy on the way",
                access.url,
                CONNECT_TIMEOUT.as_secs(),
                crate::env::ADDR
            )))
        })
}

async fn connect_inner(
    access: &ServerAccess,
    tls: Arc<ClientConfig>,
    hello: Hello,
) -> Result<Connection, ConnectError> {
    let mut request = access
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| network(access, &e))?;
    let credentials = STANDARD.encode(format!("{}:{}", access.client_id, access.secret.expose()));
    let mut auth =
        HeaderValue::from_str(&format!("Basic {credentials}")).expect("base64 is a valid header");
    auth.set_sensitive(true);
    request.headers_mut().insert("authorization", auth);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true, // no Nagle: acks and heartbeats are small and latency-bound
        Some(Connector::Rustls(tls)),
    )
    .await
    .map_err(|e| match e {
        tungstenite::Error::Http(resp) if resp.status().as_u16() == 401 => {
            ConnectError::Refused(http_reason(&resp))
        }
        tungstenite::Error::Http(resp) => ConnectError::Rejected(http_reason(&resp)),
        other => network(access, &other),
    })?;
    socket
        .send(Message::Text(AgentMessage::Hello(hello).to_json().into()))
        .await
        .map_err(|e| network(access, &e))?;
    match next_message(&mut socket).await {
        Ok(Some(ServerMessage::Welcome(welcome))) => {
            protocol::check_compatible(welcome.protocol_version)
                .map_err(ConnectError::Incompatible)?;
            Ok(Connection { socket, welcome })
        }
        Ok(Some(ServerMessage::Error {
            code: protocol::ErrorCode::IncompatibleProtocol,
            message,
        })) => Err(ConnectError::Incompatible(message)),
        Ok(Some(ServerMessage::Error { message, .. })) => Err(ConnectError::Rejected(message)),
        Ok(Some(other)) => Err(ConnectError::Rejected(format!(
            "expected welcome, got {other:?}"
        ))),
        Ok(None) => Err(ConnectError::Network(
            "the server closed the connection after hello".into(),
        )),
        Err(e) => Err(ConnectError::Network(e)),
    }
}

/// The next protocol message; `Ok(None)` when the connection closed. A message that
/// does not parse is an error naming what was wrong.
pub async fn next_message(socket: &mut Socket) -> Result<Option<ServerMessage>, String> {
    loop {
        match socket.next().await {
            None | Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(Message::Text(t))) => {
                return ServerMessage::from_json(t.as_str())
                    .map(Some)
                    .map_err(|e| format!("malformed message from the server: {e}"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                return Err("unexpected binary frame from the server".into());
            }
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

pub async fn send(socket: &mut Socket, m: &AgentMessage) -> Result<(), String> {
    socket
        .send(Message::Text(m.to_json().into()))
        .await
        .map_err(|e| e.to_string())
}
