//! A throwaway `redis-server`: a free loopback port, no persistence.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use super::{SpawnError, child::Child};

/// `redis-server` on a free loopback port, answering PING.
pub(super) async fn start(dir: &Path, timeout: Duration) -> Result<Child, SpawnError> {
    let io = |source| SpawnError::Io {
        path: PathBuf::from("127.0.0.1:0"),
        source,
    };
    // Redis cannot pick its own port (0 turns TCP off): take one the kernel
    // just handed out and give it back.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io)?;
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &addr.port().to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"]);
    let mut redis = Child::start_quiet("redis".into(), command, addr, dir.join("redis.log"))
        .map_err(|e| match e {
            SpawnError::Start {
                name,
                program,
                source,
            } if source.kind() == std::io::ErrorKind::NotFound => SpawnError::Start {
                name: format!("{name} (install it: apt-get install -y redis-server)"),
                program,
                source,
            },
            other => other,
        })?;
    wait_ready(&mut redis, timeout).await?;
    Ok(redis)
}

/// Waits, at most `timeout`, until `redis` answers PING.
pub(super) async fn wait_ready(redis: &mut Child, timeout: Duration) -> Result<(), SpawnError> {
    let addr = redis.addr;
    let deadline = Instant::now() + timeout;
    while !answers_ping(addr).await {
        if redis.exit_status().is_some() {
            return Err(redis.failed("exited while starting"));
        }
        if Instant::now() >= deadline {
            return Err(redis.failed(&format!(
                "did not answer PING within {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn answers_ping(addr: SocketAddr) -> bool {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    })
    .await
    .unwrap_or(false)
}
