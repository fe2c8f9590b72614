//! A hand-driven agent: valid credentials, then whatever the test sends — the agent a
//! bug or an attacker would write. For tests of what the server must refuse.

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub struct RawAgent {
    pub ws: adc_agent::connection::Socket,
}

impl RawAgent {
    /// Connects and says hello; returns after the server's welcome.
    pub async fn connect(agent_addr: &str, id: &str, secret: &str) -> RawAgent {
        Self::connect_with(agent_addr, id, secret, json!({})).await
    }

    /// Connects and says hello claiming `settings` (as adc.yaml's); returns after the
    /// server's welcome.
    pub async fn connect_with(
        agent_addr: &str,
        id: &str,
        secret: &str,
        settings: Value,
    ) -> RawAgent {
        Self::connect_speaking(agent_addr, id, secret, settings, 1).await
    }

    /// [`RawAgent::connect_with`], saying it speaks `protocol` (groups from 2 on).
    pub async fn connect_speaking(
        agent_addr: &str,
        id: &str,
        secret: &str,
        settings: Value,
        protocol: u32,
    ) -> RawAgent {
        let url = adc_agent::env::websocket_url(agent_addr).unwrap();
        let mut req = url.into_client_request().unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req.headers_mut()
            .insert("authorization", format!("Basic {basic}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        let mut a = RawAgent { ws };
        a.send(json!({"type": "hello", "protocol_version": protocol, "agent_version": "raw", "hostname": "raw", "settings": settings})).await;
        let w = a.recv_type("welcome").await;
        assert_eq!(w["type"], "welcome");
        a
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// The next message of type `t`, skipping heartbeats and others.
    pub async fn recv_type(&mut self, t: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no `{t}` message"))
                .expect("connection open")
                .expect("frame");
            if let Message::Text(text) = m {
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                if v["type"] == t {
                    return v;
                }
            }
        }
    }
}
