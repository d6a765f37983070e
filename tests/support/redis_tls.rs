//! A `redis-server` speaking only TLS on a free loopback port, alone or as a
//! one-node Redis Cluster (it holds every slot), with a self-signed
//! certificate `openssl` makes in a temporary directory; killed and removed
//! on drop. Clients reach it with `rediss://…/#insecure` (no certificate
//! check: the test is about the TLS path, not the trust store).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use super::redis::{free_port, redis_server};

pub struct TlsRedis {
    port: u16,
    child: Child,
    dir: PathBuf,
    /// The ACL user and password, when the default user is off.
    user: Option<(String, String)>,
}

impl TlsRedis {
    /// Starts one; `cluster` makes it a one-node cluster.
    pub fn start(cluster: bool) -> Self {
        Self::start_as(cluster, None)
    }

    /// As [`TlsRedis::start`], with the default user off and only the ACL
    /// user `user` (all commands, keys and channels) with password `pass`.
    pub fn start_with_user(cluster: bool, user: &str, pass: &str) -> Self {
        Self::start_as(cluster, Some((user.to_owned(), pass.to_owned())))
    }

    fn start_as(cluster: bool, user: Option<(String, String)>) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("d365mcp-redis-tls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}): install it (apt-get install -y openssl)")
            });
        assert!(made.success(), "openssl could not make a certificate");

        let port = free_port();
        let child = redis_server(|c| {
            c.args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"])
                .args(["--tls-ca-cert-file", "cert.pem", "--tls-auth-clients", "no"])
                .arg("--dir")
                .arg(&dir)
                .current_dir(&dir);
            if let Some((user, pass)) = &user {
                c.args(["--user", "default", "off"]).args([
                    "--user",
                    user,
                    "on",
                    &format!(">{pass}"),
                    "~*",
                    "&*",
                    "+@all",
                ]);
            }
            if cluster {
                c.args(["--cluster-enabled", "yes", "--tls-cluster", "yes"])
                    .args(["--cluster-port", &free_port().to_string()])
                    .args(["--cluster-config-file", "nodes.conf"]);
            }
        });
        let server = Self {
            port,
            child,
            dir,
            user,
        };
        server.wait_for(&["PING"], "PONG");
        if cluster {
            server.wait_for(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"], "OK");
            server.wait_for(&["CLUSTER", "INFO"], "cluster_state:ok");
        }
        server
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/#insecure", self.port)
    }

    /// The URL with `user` and `pass` in it.
    pub fn url_as(&self, user: &str, pass: &str) -> String {
        format!("rediss://{user}:{pass}@127.0.0.1:{}/#insecure", self.port)
    }

    /// Runs `args` with `redis-cli` over TLS until its output holds `expected`.
    fn wait_for(&self, args: &[&str], expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut cli = Command::new("redis-cli");
            cli.args(["--tls", "--insecure", "-p", &self.port.to_string()]);
            if let Some((user, pass)) = &self.user {
                cli.args(["--user", user, "--pass", pass, "--no-auth-warning"]);
            }
            let out = cli
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run redis-cli ({e})"));
            if String::from_utf8_lossy(&out.stdout).contains(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "TLS redis-server on port {}: {args:?} never gave {expected}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
