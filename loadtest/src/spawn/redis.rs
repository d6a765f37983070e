//! A throwaway `redis-server` (a free loopback port, no persistence), or
//! a Redis Cluster of [`CLUSTER_NODES`] of them: masters without replicas,
//! formed with `redis-cli --cluster create`, serving the slots of the
//! living nodes when one is down (`cluster-require-full-coverage no`).

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use super::{SpawnError, child::Child};

/// Nodes of a spawned Redis Cluster.
pub const CLUSTER_NODES: usize = 3;

/// How long a cluster node may be silent before the others mark it failed.
const NODE_TIMEOUT_MS: &str = "2000";

/// A port the kernel just handed out, given back: Redis cannot pick its
/// own (0 turns TCP off).
fn free_addr() -> Result<SocketAddr, SpawnError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|source| SpawnError::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })
}

/// `redis-server` on a free loopback port, answering PING.
pub(super) async fn start(dir: &Path, timeout: Duration) -> Result<Child, SpawnError> {
    let addr = free_addr()?;
    let mut redis = server("redis", addr, dir, |_| {})?;
    wait_ready(&mut redis, timeout).await?;
    Ok(redis)
}

/// A Redis Cluster of [`CLUSTER_NODES`] masters, each answering PING and
/// saying `cluster_state:ok`.
pub(super) async fn start_cluster(dir: &Path, timeout: Duration) -> Result<Vec<Child>, SpawnError> {
    let mut nodes = Vec::new();
    for i in 0..CLUSTER_NODES {
        let (addr, bus) = (free_addr()?, free_addr()?);
        let node = server(&format!("redis {i}"), addr, dir, |c| {
            c.args(["--cluster-enabled", "yes"])
                // The bus port is given: the default (port + 10000) may not
                // exist for a high ephemeral port.
                .args(["--cluster-port", &bus.port().to_string()])
                .args([
                    "--cluster-config-file",
                    &format!("nodes-{}.conf", addr.port()),
                ])
                .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
                .args(["--cluster-require-full-coverage", "no"])
                .arg("--dir")
                .arg(dir);
        })?;
        nodes.push(node);
    }
    for node in &mut nodes {
        wait_ready(node, timeout).await?;
    }
    let addresses: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .map_err(|source| SpawnError::Start {
            name: "redis-cli (it comes with redis-server)".into(),
            program: "redis-cli".into(),
            source,
        })?;
    if !created.status.success() {
        return Err(SpawnError::Exited {
            name: "redis-cli --cluster create".into(),
            status: created.status.to_string(),
            log: String::from_utf8_lossy(&created.stdout).into_owned(),
        });
    }
    for node in &mut nodes {
        wait_cluster_ok(node, timeout).await?;
    }
    Ok(nodes)
}

/// Waits, at most `timeout`, until cluster node `node` says
/// `cluster_state:ok` (it joined, and every slot it knows is served).
pub(super) async fn wait_cluster_ok(node: &mut Child, timeout: Duration) -> Result<(), SpawnError> {
    let deadline = Instant::now() + timeout;
    let port = node.addr.port().to_string();
    loop {
        let port = port.clone();
        let info = tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .args(["-p", &port, "CLUSTER", "INFO"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        if info.contains("cluster_state:ok") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(node.failed(&format!(
                "did not reach cluster_state:ok within {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `redis-server` on `addr` without persistence, with `more` flags.
fn server(
    name: &str,
    addr: SocketAddr,
    dir: &Path,
    more: impl FnOnce(&mut Command),
) -> Result<Child, SpawnError> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &addr.port().to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"]);
    more(&mut command);
    let log = dir.join(format!("{}.log", name.replace(' ', "-")));
    Child::start_quiet(name.into(), command, addr, log).map_err(|e| match e {
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
    })
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
