//! The container image's test support: deploy/Containerfile read into
//! stages of instructions, and podman on storage of its own (a temporary
//! root on the vfs driver: no mounts left behind, nothing added to the
//! machine's images).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// One instruction, its continuation lines joined.
#[derive(Debug, Clone)]
pub struct Instruction {
    /// Upper-cased: `FROM`, `RUN`, `COPY`, ...
    pub keyword: String,
    /// Everything after the keyword, as written.
    pub args: String,
}

impl Instruction {
    /// The words of the exec (JSON array) form; `None` for the shell form,
    /// which needs a `/bin/sh` in the image. For `HEALTHCHECK`, the form of
    /// the command after `CMD`.
    pub fn exec_form(&self) -> Option<Vec<String>> {
        let command = if self.keyword == "HEALTHCHECK" {
            self.healthcheck_command()?
        } else {
            self.args.as_str()
        };
        serde_json::from_str(command).ok()
    }

    /// The options (`--name=value` or `--name value`) before the operands.
    pub fn options(&self) -> Vec<(String, String)> {
        let mut words = self.args.split_whitespace().peekable();
        let mut options = Vec::new();
        while let Some(word) = words.next_if(|w| w.starts_with("--")) {
            let word = word.trim_start_matches("--");
            match word.split_once('=') {
                Some((name, value)) => options.push((name.into(), value.into())),
                None => options.push((word.into(), words.next().unwrap_or("").into())),
            }
        }
        options
    }

    /// The operands after the options.
    pub fn operands(&self) -> Vec<String> {
        let mut words = self.args.split_whitespace().peekable();
        while let Some(word) = words.next_if(|w| w.starts_with("--")) {
            if !word.contains('=') {
                words.next();
            }
        }
        words.map(str::to_owned).collect()
    }

    /// `HEALTHCHECK [options] CMD command`: the command.
    fn healthcheck_command(&self) -> Option<&str> {
        let padded = format!(" {}", self.args);
        let (options, _) = padded.split_once(" CMD ")?;
        // `options` is " " and the options; after them, "CMD ".
        let at = options.len() + "CMD ".len();
        Some(self.args[at..].trim())
    }
}

/// A build stage: `FROM image [AS name]` and what follows.
#[derive(Debug)]
pub struct Stage {
    pub from: Instruction,
    pub image: String,
    pub name: Option<String>,
    pub body: Vec<Instruction>,
}

impl Stage {
    /// The body's instructions with `keyword`.
    pub fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Instruction> + 'a {
        self.body.iter().filter(move |i| i.keyword == keyword)
    }

    /// The last instruction with `keyword` (the one in force).
    pub fn last<'a>(&'a self, keyword: &'a str) -> Option<&'a Instruction> {
        self.all(keyword).last()
    }
}

/// A Containerfile: the `ARG`s before the first `FROM`, and the stages.
#[derive(Debug)]
pub struct Containerfile {
    pub global: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

impl Containerfile {
    /// The repository's deploy/Containerfile.
    pub fn deployed() -> Containerfile {
        let path = repo().join("deploy/Containerfile");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Self::parse(&text)
    }

    /// Reads `text` as podman and docker do: comment lines dropped (also
    /// inside a continuation), lines ending in `\` joined to the next.
    pub fn parse(text: &str) -> Containerfile {
        let mut instructions = Vec::new();
        let mut pending = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(start) => {
                    pending.push_str(start);
                    pending.push(' ');
                }
                None => {
                    pending.push_str(trimmed);
                    let (keyword, args) = pending
                        .split_once(char::is_whitespace)
                        .unwrap_or((&pending, ""));
                    instructions.push(Instruction {
                        keyword: keyword.to_ascii_uppercase(),
                        args: args.split_whitespace().collect::<Vec<_>>().join(" "),
                    });
                    pending.clear();
                }
            }
        }
        assert!(
            pending.is_empty(),
            "the Containerfile ends inside a continuation"
        );
        let mut global = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for instruction in instructions {
            if instruction.keyword == "FROM" {
                let operands = instruction.operands();
                let name = match operands.as_slice() {
                    [_] => None,
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.clone()),
                    _ => panic!("FROM {}: not `image [AS name]`", instruction.args),
                };
                stages.push(Stage {
                    image: operands[0].clone(),
                    name,
                    from: instruction,
                    body: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.body.push(instruction);
            } else {
                global.push(instruction);
            }
        }
        Containerfile { global, stages }
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// podman with storage of its own under the test's temporary directory,
/// removed when dropped.
pub struct Podman {
    dir: PathBuf,
    /// podman refuses a runroot longer than 50 characters, which a
    /// directory under target/ can be (CI's checkout path is longer than
    /// this machine's), so it lives under /tmp.
    runroot: PathBuf,
}

impl Podman {
    /// Fails the test, saying how to get podman, when it is missing; and
    /// when this is not root: rootful storage and `chroot` need it (this
    /// project's machines and CI run as root).
    pub fn new(name: &str) -> Podman {
        let version = Command::new("podman").arg("--version").output();
        assert!(
            version.is_ok_and(|out| out.status.success()),
            "podman is not installed: ./scripts/test.sh installs it (apt-get install podman)"
        );
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the image tests need root (podman's own storage, chroot), as CI runs"
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("podman-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("podman's directory");
        let runroot = PathBuf::from(format!("/tmp/d365mcp-podman-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&runroot);
        Podman { dir, runroot }
    }

    /// A directory for a build context, emptied.
    pub fn context(&self, name: &str) -> PathBuf {
        let dir = self.dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a context directory");
        dir
    }

    /// `podman <args>` on this storage, to its end; panics with its output
    /// unless it succeeds.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run podman");
        assert!(
            out.status.success(),
            "podman {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `podman image inspect`: the image's configuration, as Docker's
    /// format shows it.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = self.run(&["image", "inspect", "--format", "json", image]);
        let mut all: Vec<serde_json::Value> = serde_json::from_str(&out).expect("inspect's JSON");
        assert_eq!(all.len(), 1, "{out}");
        all.remove(0)
    }

    /// `podman` on this test's own storage.
    fn command(&self) -> Command {
        let mut podman = Command::new("podman");
        podman
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        podman
    }

    /// The image's root filesystem, as a directory (vfs: no mount).
    pub fn mount(&self, image: &str) -> PathBuf {
        PathBuf::from(self.run(&["image", "mount", image]).trim())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command().args(["image", "unmount", "--all"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.runroot);
    }
}

/// Puts the file `from` names (a symbolic link followed) at `to`: a hard
/// link where they share a file system (the binary under test is hundreds
/// of megabytes), else a copy.
pub fn place(from: &Path, to: &Path) {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).expect("the parent directory");
    }
    let from = &std::fs::canonicalize(from)
        .unwrap_or_else(|e| panic!("resolving {}: {e}", from.display()));
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
    }
}
