//! The demo's webhook receiver: a loopback HTTP/1.1 server that checks
//! each request's Standard Webhooks signature (as a real receiver must)
//! and counts what it accepted, so `kawal demo` shows signed delivery
//! end to end and the dashboard's webhook panel has data.
//!
//! A demo aid, not a production receiver: a thread per connection, no
//! TLS, bodies capped at 1 MiB (alerts are at most 64 KiB).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sink::webhook::Signer;

const MAX_BODY: usize = 1 << 20;

#[derive(Default)]
pub struct Counts {
    /// Distinct webhook-ids accepted (signature verified).
    pub ids: Mutex<HashSet<String>>,
    pub requests: AtomicU64,
    pub rejected: AtomicU64,
}

pub struct DemoReceiver {
    pub url: String,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl DemoReceiver {
    pub fn start(secret: &str) -> std::io::Result<DemoReceiver> {
        let signer = Signer::parse(secret).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/webhook", listener.local_addr()?);
        listener.set_nonblocking(true)?;
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st) = (Arc::clone(&counts), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("demo-receiver".into())
            .spawn(move || {
                while !st.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (c, signer) = (Arc::clone(&c), signer.clone());
                            std::thread::spawn(move || {
                                let _ = connection(s, &c, &signer);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })?;
        Ok(DemoReceiver { url, counts, stop })
    }

    pub fn accepted(&self) -> usize {
        self.counts.ids.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Drop for DemoReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn connection(s: TcpStream, counts: &Counts, signer: &Signer) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut len, mut id, mut ts, mut sig) = (0, String::new(), 0i64, String::new());
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.parse().unwrap_or(0),
                "webhook-id" => id = v.to_string(),
                "webhook-timestamp" => ts = v.parse().unwrap_or(0),
                "webhook-signature" => sig = v.to_string(),
                _ => {}
            }
        }
        if len > MAX_BODY {
            w.write_all(
                b"HTTP/1.1 413 Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        counts.requests.fetch_add(1, Ordering::Relaxed);
        // Any of the space-separated signatures may match (rotation).
        let expected = signer.header(&id, ts, &body);
        let ok = !id.is_empty() && sig.split(' ').any(|s| expected.split(' ').any(|e| e == s));
        let status = if ok {
            if let Ok(mut ids) = counts.ids.lock() {
                ids.insert(id);
            }
            "204 No Content"
        } else {
            counts.rejected.fetch_add(1, Ordering::Relaxed);
            "401 Unauthorized"
        };
        w.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())?;
    }
}
