//! A small HTTP/1.1 receiver on loopback: the demo's webhook endpoint
//! (which checks every signature, as a real receiver must), and the
//! receiver of the webhook tests and bench. A thread per connection,
//! keep-alive, no TLS; every request goes to `answer` with its headers
//! (lower-cased names) and body, and `answer` returns the status. Bodies
//! over 1 MiB (alerts are at most 64 KiB) get 413 and the connection is
//! closed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const MAX_BODY: usize = 1 << 20;

/// Headers (lower-cased name, value) and body in, status out.
pub type AnswerFn = dyn Fn(&[(String, String)], &[u8]) -> u16 + Send + Sync;
pub type Answer = Arc<AnswerFn>;

pub struct Receiver {
    /// `http://<address>/hook`.
    pub url: String,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// Serves `listener` (bind port 0 for any) until dropped.
    pub fn start(listener: TcpListener, answer: Answer) -> std::io::Result<Receiver> {
        let url = format!("http://{}/hook", listener.local_addr()?);
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("loopback-receiver".into())
            .spawn(move || {
                while !st.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let answer = Arc::clone(&answer);
                            std::thread::spawn(move || {
                                let _ = connection(s, &*answer);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })?;
        Ok(Receiver { url, stop })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn connection(s: TcpStream, answer: &AnswerFn) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        let mut len = 0usize;
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
            let (k, v) = (k.to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
        if len > MAX_BODY {
            w.write_all(
                b"HTTP/1.1 413 Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        let status = answer(&headers, &body);
        w.write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").as_bytes())?;
    }
}

/// A header's value ("" if absent).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}
