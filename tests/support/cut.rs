//! A TCP relay between the agent and slapd that can cut the connection in the middle
//! of a response: a network that fails mid-read, deterministically.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct CutRelay {
    pub addr: SocketAddr,
    /// Bytes from the directory still allowed through; negative: unlimited.
    budget: Arc<AtomicI64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutRelay {
    /// Relays 127.0.0.1:<port> to `target`, passing everything until [`CutRelay::cut_after`].
    pub async fn start(target: SocketAddr) -> CutRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let budget = Arc::new(AtomicI64::new(-1));
        let b = budget.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let b = b.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, b).await;
                    }
                });
            }
        });
        CutRelay { addr, budget, task }
    }

    /// From now on, every connection is dropped once `bytes` more bytes of the
    /// directory's answers have passed, in whatever message that falls.
    pub fn cut_after(&self, bytes: i64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }
}

impl Drop for CutRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, budget: Arc<AtomicI64>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    };
    let down = async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let left = budget.load(Ordering::SeqCst);
            if left >= 0 {
                let pass = (n as i64).min(left) as usize;
                budget.fetch_sub(pass as i64, Ordering::SeqCst);
                let _ = cw.write_all(&buf[..pass]).await;
                if pass < n {
                    // Cut: both directions end here, mid-message.
                    return;
                }
            } else if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Whichever direction ends first ends the connection (the halves drop).
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
