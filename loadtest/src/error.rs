//! The crate's one error type.

use std::path::PathBuf;

/// Why a load test could not run or report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad setting; `key` names the flag and its environment variable.
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    #[error("cannot start the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the result collector stopped: {0}")]
    Collector(#[source] tokio::task::JoinError),
}

impl Error {
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}
