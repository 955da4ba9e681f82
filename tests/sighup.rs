//! A running `kawal run` (the binary, against librdkafka's mock cluster)
//! reloads its suppressions file on SIGHUP, without a restart, and stops
//! cleanly on SIGTERM. The file's modification time is put back after the
//! edit, so the two-second change poll cannot be what reloads it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

const ONE_RULE: &str = r#"
[[travel]]
account = "x:kemenkes"
country = "JP"
until = "2030-01-01T00:00:00Z"
"#;

const TWO_RULES: &str = r#"
[[travel]]
account = "x:kemenkes"
country = "JP"
until = "2030-01-01T00:00:00Z"

[[network]]
account = "*"
asn = 14061
until = "2030-01-01T00:00:00Z"
"#;

/// A loopback port nobody listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// The rule counts of the "suppressions reloaded" log lines received
/// within `limit`.
fn reloads(lines: &mpsc::Receiver<String>, limit: Duration) -> Vec<u64> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["fields"]["message"] == "suppressions reloaded" {
            out.push(v["fields"]["rules"].as_u64().expect("a rule count"));
        }
    }
    out
}

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} {pid}");
}

#[test]
fn sighup_reloads_the_suppressions_of_a_running_kawal() {
    let (_cluster, brokers) = cluster(1);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("suppressions.toml");
    std::fs::write(&rules, ONE_RULE).unwrap();
    let stamp = std::fs::metadata(&rules).unwrap().modified().unwrap();
    let port = free_port();
    let config = dir.path().join("kawal.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[kafka]
brokers = "{brokers}"
group_id = "kawal-sighup"
topics = ["{EVENTS}"]
alerts_topic = "{ALERTS}"
dead_letter_topic = "{DLQ}"
[kafka.consumer]
"session.timeout.ms" = "6000"
[state]
topic = "{STATE}"
[suppressions]
file = "{}"
[metrics]
listen = "127.0.0.1:{port}"
[log]
format = "json"
"#,
            rules.display()
        ),
    )
    .unwrap();

    let mut kawal = Command::new(env!("CARGO_BIN_EXE_kawal"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = kawal.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_for("kawal run to be ready", Duration::from_secs(60), || {
        assert!(kawal.try_wait().unwrap().is_none(), "kawal run exited");
        ready(port)
    });

    // The edit, with the old modification time: the poll sees nothing.
    std::fs::write(&rules, TWO_RULES).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&rules)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    assert_eq!(
        reloads(&lines, Duration::from_secs(3)),
        Vec::<u64>::new(),
        "reloaded before any SIGHUP"
    );

    signal(kawal.id(), "HUP");
    assert_eq!(reloads(&lines, Duration::from_secs(5)), vec![2]);
    assert!(kawal.try_wait().unwrap().is_none(), "SIGHUP stopped kawal");

    signal(kawal.id(), "TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = kawal.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
