//! The agent's WebSocket as the session sees it: protocol messages in and out, and a
//! close that always says why.

use adc_shared::protocol::{AgentMessage, ErrorCode, MAX_MESSAGE_BYTES, ServerMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};

pub(super) struct Conn {
    pub(super) socket: WebSocket,
}

impl Conn {
    pub(super) async fn send(&mut self, m: &ServerMessage) -> anyhow::Result<()> {
        self.socket.send(Message::Text(m.to_json().into())).await?;
        Ok(())
    }

    /// Tells the agent why, then closes: never a silent hang-up.
    pub(super) async fn close(mut self, code: ErrorCode, reason: &str) {
        let _ = self
            .send(&ServerMessage::Error {
                code,
                message: reason.to_owned(),
            })
            .await;
        let ws_code = match code {
            ErrorCode::MalformedMessage => 1007,
            ErrorCode::MessageTooLarge => 1009,
            ErrorCode::ShuttingDown => 1001,
            _ => 1008,
        };
        let reason: String = reason.chars().take(120).collect();
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code: ws_code,
                reason: reason.into(),
            })))
            .await;
    }
}

pub(super) enum Incoming {
    Message(AgentMessage),
    Closed,
    Bad(ErrorCode, String),
}

pub(super) async fn receive(socket: &mut WebSocket) -> Incoming {
    loop {
        return match socket.recv().await {
            None | Some(Ok(Message::Close(_))) => Incoming::Closed,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(t))) => match AgentMessage::from_json(t.as_str()) {
                Ok(m) => Incoming::Message(m),
                Err(e) => Incoming::Bad(
                    ErrorCode::MalformedMessage,
                    format!("malformed message: {e}"),
                ),
            },
            Some(Ok(Message::Binary(_))) => Incoming::Bad(
                ErrorCode::MalformedMessage,
                "binary frames are not part of the protocol".into(),
            ),
            Some(Err(e)) => {
                let text = e.to_string();
                if text.contains("too long")
                    || text.contains("too big")
                    || text.contains("Space limit")
                {
                    Incoming::Bad(
                        ErrorCode::MessageTooLarge,
                        format!("message larger than {MAX_MESSAGE_BYTES} bytes"),
                    )
                } else {
                    Incoming::Closed
                }
            }
        };
    }
}
