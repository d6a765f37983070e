//! The 2026-07-28 client: no handshake; every request carries its protocol
//! version and capabilities in `_meta`, and `Mcp-Method`/`Mcp-Name` headers
//! that match the body.

use serde_json::{Value, json};

use super::{Failure, Http, Outcome, reply};

const VERSION: &str = "2026-07-28";

pub struct Stateless {
    http: Http,
    next_id: u64,
}

impl Stateless {
    pub fn new(http: Http) -> Self {
        Self { http, next_id: 1 }
    }

    pub async fn call(&mut self, method: &str, tool: Option<&str>, args: Value) -> Outcome {
        let id = self.next_id;
        self.next_id += 1;
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let body = super::request_body(id, method, tool, args, Some(meta));
        let url = self.http.targets.next().clone();
        let mut request = self
            .http
            .post(&url, &body)
            .header("mcp-protocol-version", VERSION)
            .header("mcp-method", method);
        if let Some(tool) = tool {
            request = request.header("mcp-name", tool);
        }
        let (status, _, text) = self.http.exchange(request).await?;
        if !status.is_success() {
            return Err(Failure::http(status.as_u16(), &text));
        }
        reply::answer_in(&text, id)
    }
}
