//! A TCP relay between the agent and slapd that can cut the connection in the middle
//! of a response (a network that fails mid-read), or stop reading the directory's
//! answers for a while (a slow reader, which keeps slapd's search running past its
//! time limit) — deterministically.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct CutRelay {
    pub addr: SocketAddr,
    /// Bytes from the directory still allowed through; negative: unlimited.
    budget: Arc<AtomicI64>,
    stall: Arc<Stall>,
    /// Bytes of the directory's answers passed so far, every connection together.
    passed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// After `after` more bytes from the directory, stop reading for `millis` (once).
#[derive(Default)]
struct Stall {
    after: AtomicI64,
    millis: AtomicU64,
}

impl CutRelay {
    /// Relays 127.0.0.1:<port> to `target`, passing everything until [`CutRelay::cut_after`].
    pub async fn start(target: SocketAddr) -> CutRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let budget = Arc::new(AtomicI64::new(-1));
        let stall = Arc::new(Stall::default());
        stall.after.store(-1, Ordering::SeqCst);
        let passed = Arc::new(AtomicU64::new(0));
        let (b, st, p) = (budget.clone(), stall.clone(), passed.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (b, st, p) = (b.clone(), st.clone(), p.clone());
                tokio::spawn(async move {
                    if let Ok(server) = connect_small(target) {
                        relay(client, server, b, st, p).await;
                    }
                });
            }
        });
        CutRelay {
            addr,
            budget,
            stall,
            passed,
            task,
        }
    }

    /// Bytes of the directory's answers passed so far.
    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::SeqCst)
    }

    /// Once `bytes` more bytes of the directory's answers have passed, reads nothing
    /// from it for `pause`, then goes on.
    pub fn stall_after(&self, bytes: i64, pause: Duration) {
        self.stall
            .millis
            .store(pause.as_millis() as u64, Ordering::SeqCst);
        self.stall.after.store(bytes, Ordering::SeqCst);
    }

    /// From now on, every connection is dropped once `bytes` more bytes of the
    /// directory's answers have passed, in whatever message that falls.
    pub fn cut_after(&self, bytes: i64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }
}

/// A connection to `target` with a small segment size and receive window: on loopback
/// the sender's buffer is sized from the segment size (64 KiB segments give slapd
/// megabytes), so when the relay stops reading, slapd's writes block after a few
/// dozen kilobytes instead of never.
fn connect_small(target: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_tcp_mss(536)?;
    s.set_recv_buffer_size(8192)?;
    s.connect(&target.into())?;
    s.set_nonblocking(true)?;
    TcpStream::from_std(s.into())
}

impl Drop for CutRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    budget: Arc<AtomicI64>,
    stall: Arc<Stall>,
    passed: Arc<AtomicU64>,
) {
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
            passed.fetch_add(n as u64, Ordering::SeqCst);
            let until_stall = stall.after.load(Ordering::SeqCst);
            if until_stall >= 0 {
                if until_stall <= n as i64 {
                    stall.after.store(-1, Ordering::SeqCst);
                    let pause = stall.millis.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                } else {
                    stall.after.fetch_sub(n as i64, Ordering::SeqCst);
                }
            }
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
