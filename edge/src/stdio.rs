//! MCP over standard input and output, for a client that starts the server
//! as its own child process (Claude Desktop, VS Code): one JSON-RPC message
//! per line each way, served by the same [`McpHandler`] as HTTP.
//!
//! rmcp's own line transport drops a line that is not JSON, or too long,
//! without an answer. This one reads the lines itself so that each gets the
//! answer an HTTP body would: every line is bounded by
//! `D365MCP_MAX_BODY_BYTES` and checked by the body guard
//! (`crate::guard::screen`), and a refused line is answered with its
//! JSON-RPC error (a parse error, with id `null`, for a line that is not
//! JSON) while the conversation goes on.
//!
//! There is no HTTP request, so no credential: the caller is the local user
//! who started the process, served as [`crate::Principal::anonymous`] (see
//! README, "stdio").

use std::{future::Future, sync::Arc};

use rmcp::{
    RoleServer,
    model::ClientJsonRpcMessage,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    sync::{Mutex, mpsc},
};

use crate::{EdgeError, EdgeState, guard::Refused, mcp::McpHandler};

/// Messages read ahead of the handler: enough to keep it busy, few enough
/// that a client writing faster than it is answered waits for its pipe.
const READ_AHEAD: usize = 16;

/// Serves MCP on this process's stdin and stdout until stdin closes or
/// `shutdown` resolves.
pub async fn serve_stdio(
    state: EdgeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    // On Linux, pipes (how clients start a server) are read without a
    // blocking thread, so a signal never waits for the client's next line.
    let (input, output) = rmcp::transport::stdio_pipes();
    serve_lines(input, output, state, shutdown).await
}

/// [`serve_stdio`] on any pair of byte streams (tests use in-memory pipes).
pub async fn serve_lines<R, W>(
    input: R,
    output: W,
    state: EdgeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let stop = state.shutdown.clone();
    let health_checks = state
        .workers
        .spawn_health_checks(state.config.health_interval, stop.clone());
    let output = Arc::new(Mutex::new(output));
    let (sender, incoming) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_lines(
        input,
        state.config.max_body_bytes,
        sender,
        Arc::clone(&output),
    ));
    let transport = Lines { incoming, output };
    let ct = stop.child_token();
    let signalled = ct.clone();
    tokio::spawn(async move {
        shutdown.await;
        signalled.cancel();
    });
    let handler = McpHandler::new(state);
    let result = match rmcp::service::serve_server_with_ct(handler, transport, ct).await {
        Ok(running) => match running.waiting().await {
            Ok(reason) => {
                tracing::info!(?reason, "stdio: the conversation ended");
                Ok(())
            }
            Err(e) => Err(EdgeError::Stdio(format!(
                "the conversation's task failed: {e}"
            ))),
        },
        Err(e) => end_before_start(e),
    };
    reader.abort();
    health_checks.abort();
    stop.cancel();
    result
}

/// A conversation that ended before its first request was served: stdin
/// closed (or a signal came) first is a normal end; anything else is not.
fn end_before_start(e: rmcp::service::ServerInitializeError) -> Result<(), EdgeError> {
    use rmcp::service::ServerInitializeError as E;
    match e {
        E::ConnectionClosed(_) | E::Cancelled => {
            tracing::info!("stdio: ended before a request");
            Ok(())
        }
        other => Err(EdgeError::Stdio(format!(
            "the conversation could not start: {other}"
        ))),
    }
}

/// The transport rmcp sees: messages the reader let through, answers
/// written one line at a time.
struct Lines<W> {
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
    output: Arc<Mutex<W>>,
}

impl<W: AsyncWrite + Send + Unpin + 'static> Transport<RoleServer> for Lines<W> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let output = Arc::clone(&self.output);
        async move {
            let line = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            write_line(&output, line).await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        // Cancel-safe, as rmcp polls it inside a `select!`.
        self.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.incoming.close();
        self.output.lock().await.flush().await
    }
}

/// Writes `line` and its newline whole, so that lines never interleave.
async fn write_line<W: AsyncWrite + Unpin>(
    output: &Mutex<W>,
    mut line: Vec<u8>,
) -> std::io::Result<()> {
    line.push(b'\n');
    let mut output = output.lock().await;
    output.write_all(&line).await?;
    output.flush().await
}

/// Reads lines until stdin ends: each that passes the guard goes to rmcp,
/// each refused is answered here.
async fn read_lines<R, W>(
    input: R,
    limit: usize,
    sender: mpsc::Sender<ClientJsonRpcMessage>,
    output: Arc<Mutex<W>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        let read = match read_line(&mut input, &mut line, limit).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "stdio: cannot read stdin; ending");
                return;
            }
        };
        let verdict = match read {
            Read::End => return,
            Read::TooLong => {
                crate::metrics::refused(crate::metrics::Refusal::BodySize);
                Err(Refused {
                    failure: crate::guard::too_large_failure("message line", limit),
                    id: serde_json::Value::Null,
                })
            }
            // Without its newline, a carriage return before it (Windows
            // clients) and surrounding blanks.
            Read::Line | Read::Last => match line.trim_ascii() {
                [] => Ok(None),
                message => crate::guard::screen(message).map(Some).inspect_err(|_| {
                    crate::metrics::refused(crate::metrics::Refusal::Guard);
                }),
            },
        };
        match verdict {
            Ok(Some(message)) => {
                if sender.send(message).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(refused) => {
                let answer = refused.body().to_string().into_bytes();
                if let Err(e) = write_line(&output, answer).await {
                    tracing::warn!(error = %e, "stdio: cannot write stdout; ending");
                    return;
                }
            }
        }
        if matches!(read, Read::Last) {
            return;
        }
    }
}

/// What one bounded line read found.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Read {
    /// A line ended by a newline is in the buffer.
    Line,
    /// The input ended after a line with no newline, now in the buffer.
    Last,
    /// A line longer than the limit, skipped to its end.
    TooLong,
    /// The input ended.
    End,
}

/// Reads one line into `line` (cleared first) without holding more than
/// `limit` bytes of it: the rest of a longer line is read and dropped.
async fn read_line<R: AsyncRead + Unpin>(
    input: &mut BufReader<R>,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Read> {
    line.clear();
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Read::TooLong,
                (false, true) => Read::End,
                (false, false) => Read::Last,
            });
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let take = newline.map_or(available.len(), |at| at + 1);
        // The limit counts the message, not its newline.
        let message = line.len() + newline.map_or(take, |at| at);
        if !too_long && message > limit {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(&available[..take]);
        }
        input.consume(take);
        if newline.is_some() {
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

#[cfg(test)]
#[path = "stdio_tests.rs"]
mod tests;
