//! A 3-node Redis Cluster (three masters, no replicas) of `redis-server`
//! child processes on free loopback ports, formed with `redis-cli --cluster
//! create`; killed on drop, its temporary directory removed. Never skipped:
//! without `redis-server`/`redis-cli` the test fails and says how to
//! install them.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use super::redis::{free_port, redis_server, wait_for_pong};

/// How long a node may be silent before the others mark it failed. Short,
/// so tests that kill a node see the cluster react within seconds.
const NODE_TIMEOUT_MS: &str = "2000";

pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

struct Node {
    port: u16,
    child: Option<Child>,
}

impl RedisCluster {
    /// Starts three nodes, joins them into one cluster (the 16,384 slots
    /// split between them) and waits until every node says
    /// `cluster_state:ok`.
    pub fn start() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "d365mcp-redis-cluster-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let child = redis_server(|c| {
                c.args(["--port", &port.to_string()])
                    // The bus port is given: the default (port + 10000) may
                    // not exist for a high ephemeral port.
                    .args(["--cluster-port", &bus.to_string()])
                    .args(["--cluster-enabled", "yes"])
                    .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                    .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
                    // The surviving nodes keep serving their own slots when
                    // one dies (there are no replicas to take over).
                    .args(["--cluster-require-full-coverage", "no"])
                    .arg("--dir")
                    .arg(&cluster.dir);
            });
            cluster.nodes.push(Node {
                port,
                child: Some(child),
            });
            wait_for_pong(port);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): it comes with redis-server"));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_ok();
        cluster
    }

    /// `redis://` URLs of every node, in start order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The port of the node holding `key`'s slot, from the cluster's own
    /// view (`CLUSTER NODES` on a live node).
    pub fn owner_of(&self, key: &str) -> u16 {
        let slot = key_slot(key);
        self.slot_ranges()
            .into_iter()
            .find(|(_, ranges)| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot)))
            .map(|(port, _)| port)
            .unwrap_or_else(|| panic!("no node owns slot {slot} of {key:?}"))
    }

    /// Ports of the live nodes, in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// Runs `redis-cli` against the node on `port` (no redirections
    /// followed: it shows what that node itself holds) and returns its
    /// trimmed output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Kills (SIGKILL) the node on `port`.
    pub fn kill_node(&mut self, port: u16) {
        for node in self.nodes.iter_mut().filter(|n| n.port == port) {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Every live node's slot ranges, by port.
    fn slot_ranges(&self) -> BTreeMap<u16, Vec<(u16, u16)>> {
        let port = *self.ports().first().expect("a live node");
        let nodes = self.cli(port, &["CLUSTER", "NODES"]);
        let mut owners = BTreeMap::new();
        for line in nodes.lines() {
            // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 || !fields[2].contains("master") {
                continue;
            }
            let Some(port) = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
            else {
                continue;
            };
            let ranges = fields[8..]
                .iter()
                .filter_map(|r| {
                    let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                    Some((lo.parse().ok()?, hi.parse().ok()?))
                })
                .collect();
            owners.insert(port, ranges);
        }
        owners
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in self.ports() {
            loop {
                if self
                    .cli(port, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the Redis Cluster did not reach cluster_state:ok on port {port} in 20 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for port in self.ports() {
            self.kill_node(port);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The cluster slot of `key`: CRC16 (XMODEM) of the key, or of its hash
/// tag (the text inside the first `{…}` when not empty), modulo 16,384.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16(hashed) % 16_384
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}
