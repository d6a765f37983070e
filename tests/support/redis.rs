//! A `redis-server` child process on a free loopback port, killed on drop.
//! Never skipped: without `redis-server` the test fails and says how to
//! install it.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Starts `redis-server` on loopback without persistence, its output
/// discarded; `configure` adds the flags of this particular server.
pub fn redis_server(configure: impl FnOnce(&mut Command)) -> Child {
    let mut command = Command::new("redis-server");
    configure(&mut command);
    command
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start redis-server ({e}): install it (apt-get install -y \
             redis-server; ./scripts/test.sh does this when it is missing)"
        )
    })
}

pub struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts one on `port` (a restart) and waits until it answers PING.
    pub fn start_on(port: u16) -> Self {
        let child = redis_server(|c| {
            c.args(["--port", &port.to_string()]);
        });
        let server = Self { port, child };
        wait_for_pong(port);
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// How many times each command has been called (`INFO commandstats`),
    /// by its lower-case name (`set`, `get`, …).
    #[allow(dead_code)] // not every test binary counts commands
    pub fn command_calls(&self) -> std::collections::BTreeMap<String, u64> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut conn)
            .unwrap();
        info.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }

    /// How many times each command has been called since `before` (an
    /// earlier [`RedisServer::command_calls`]), commands not called left out.
    #[allow(dead_code)] // not every test binary counts commands
    pub fn calls_since(
        &self,
        before: &std::collections::BTreeMap<String, u64>,
    ) -> std::collections::BTreeMap<String, u64> {
        self.command_calls()
            .into_iter()
            .map(|(name, calls)| {
                let since = calls - before.get(&name).copied().unwrap_or(0);
                (name, since)
            })
            .filter(|&(_, since)| since > 0)
            .collect()
    }

    /// Stops the server and returns its port, for a restart on it.
    pub fn kill(mut self) -> u16 {
        self.stop();
        self.port
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the Redis on `port` answers PING; panics after 10 s.
pub fn wait_for_pong(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let mut reply = [0u8; 7];
            if stream.write_all(b"PING\r\n").is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && &reply == b"+PONG\r\n"
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server on port {port} did not answer within 10 s");
}
