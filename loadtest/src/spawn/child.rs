//! One child process that reports its address on stdout once bound, with its
//! stderr kept in a log file so that a failed start can say why.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child as StdChild, Command, Stdio},
    time::Duration,
};

use tokio::sync::oneshot;

use super::SpawnError;

/// How many trailing lines of a child's log an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// A running child; killed and reaped by [`Child::stop`] or on drop.
pub(super) struct Child {
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    log: PathBuf,
    process: StdChild,
    /// What started it, kept to start it again ([`Child::restart`]).
    command: Command,
}

/// Starts `command` with no stdin, `stdout` as given and stderr to `log`.
fn spawn(
    name: &str,
    command: &mut Command,
    log: &Path,
    stdout: Stdio,
) -> Result<StdChild, SpawnError> {
    // Appended: a restarted child's log follows its predecessor's.
    let stderr = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|source| SpawnError::Io {
            path: log.to_owned(),
            source,
        })?;
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(stderr));
    command.spawn().map_err(|source| SpawnError::Start {
        name: name.to_owned(),
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })
}

impl Child {
    /// Starts `command` (stdout piped, stderr to `log`) and waits, at most
    /// `timeout`, for a stdout line `… listening on <addr>`.
    pub(super) async fn start(
        name: String,
        mut command: Command,
        log: PathBuf,
        timeout: Duration,
    ) -> Result<Child, SpawnError> {
        let mut process = spawn(&name, &mut command, &log, Stdio::piped())?;
        let Some(stdout) = process.stdout.take() else {
            let _ = process.kill();
            let _ = process.wait();
            return Err(SpawnError::Exited {
                name,
                status: "stdout was not captured".into(),
                log: String::new(),
            });
        };
        let (tx, rx) = oneshot::channel();
        // A plain thread reads the address, then keeps draining stdout so the
        // child never blocks on a full pipe; it ends when the child does.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = tx.take_if(|_| line.contains(" listening on ")) {
                    let _ = tx.send(parse_listening(&line));
                }
            }
        });
        let mut child = Child {
            name,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            process,
            command,
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Some(addr))) => {
                child.addr = addr;
                Ok(child)
            }
            Ok(Ok(None)) => Err(child.failed("printed an unreadable address")),
            // The reader ended without an address: the child closed stdout.
            Ok(Err(_)) => Err(child.failed("exited before listening")),
            Err(_) => Err(child.failed(&format!(
                "did not report its address within {} s",
                timeout.as_secs()
            ))),
        }
    }

    /// A child that answers a readiness probe of its own (Redis): no
    /// address line, the caller knows the address.
    pub(super) fn start_quiet(
        name: String,
        mut command: Command,
        addr: SocketAddr,
        log: PathBuf,
    ) -> Result<Child, SpawnError> {
        let process = spawn(&name, &mut command, &log, Stdio::null())?;
        Ok(Child {
            name,
            addr,
            log,
            process,
            command,
        })
    }

    /// Starts the child again, on the address it had, after it exited (or
    /// kills it first), with its log appended to the old one; waits at most
    /// `timeout` for it to listen. A quiet child (Redis) is only started:
    /// its caller waits for its own readiness probe.
    pub(super) async fn restart(&mut self, timeout: Duration) -> Result<(), SpawnError> {
        self.stop();
        let (command, quiet) = rebuild(&self.command, self.addr);
        let restarted = if quiet {
            Child::start_quiet(self.name.clone(), command, self.addr, self.log.clone())
        } else {
            Child::start(self.name.clone(), command, self.log.clone(), timeout).await
        };
        // The old process is reaped (dropping it sends no signal).
        *self = restarted?;
        Ok(())
    }

    /// Sends `signal` (a name `kill -s` knows: `KILL`, `TERM`) to the child.
    pub(super) fn signal(&self, signal: &str) -> std::io::Result<()> {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "kill -s {signal} {}: {status}",
                self.pid()
            )))
        }
    }

    /// Waits, at most `timeout`, for the child to exit; `true` when it did.
    pub(super) async fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.exit_status().is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The operating system's process id.
    pub(super) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// `Some(status)` once the child has exited.
    pub(super) fn exit_status(&mut self) -> Option<String> {
        match self.process.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Kills and reaps the child, then builds the error `what` with the
    /// end of its log.
    pub(super) fn failed(&mut self, what: &str) -> SpawnError {
        let status = self.exit_status();
        self.stop();
        SpawnError::Exited {
            name: self.name.clone(),
            status: match status {
                Some(status) => format!("{what} ({status})"),
                None => what.to_owned(),
            },
            log: log_tail(&self.log),
        }
    }

    /// Kills (SIGKILL) and reaps the child; harmless when it already ended.
    pub(super) fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A copy of `command` listening on `addr` (its `--listen` argument
/// replaced), and whether it has none (a quiet child, which keeps its
/// address by other means).
fn rebuild(command: &Command, addr: SocketAddr) -> (Command, bool) {
    let mut copy = Command::new(command.get_program());
    let mut args = command.get_args();
    let mut quiet = true;
    while let Some(arg) = args.next() {
        copy.arg(arg);
        if arg == "--listen" && args.next().is_some() {
            copy.arg(addr.to_string());
            quiet = false;
        }
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(key, value),
            None => copy.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(dir);
    }
    (copy, quiet)
}

/// The address in `d365mcp <role> listening on <addr>` (or `echo listening on`).
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let (_, addr) = line.split_once(" listening on ")?;
    addr.trim().parse().ok()
}

/// The last lines of a log file, or a note that it could not be read.
fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            lines[start..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_of_a_listening_line() {
        assert_eq!(
            parse_listening("d365mcp edge listening on 127.0.0.1:4321"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4321)))
        );
        assert_eq!(
            parse_listening("echo listening on 127.0.0.1:80 \n"),
            Some(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        assert_eq!(parse_listening("d365mcp edge listening on nowhere"), None);
        assert_eq!(parse_listening("starting"), None);
    }
}
