//! The webhook tests' and bench's receiver is kawal's own loopback
//! receiver (the demo's); a closed port for an endpoint that is down.

use std::net::TcpListener;

// Test crates that share `common` without the webhook tests use none.
#[allow(unused_imports)]
pub use kawal::loopback::{Answer, Receiver, header};

/// A loopback port with nothing listening (yet), and its webhook URL.
pub fn closed_port() -> (u16, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (port, format!("http://127.0.0.1:{port}/hook"))
}
