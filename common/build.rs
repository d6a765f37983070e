//! Compiles the edge<->worker contract with a vendored `protoc`, so a fresh
//! machine needs nothing preinstalled; and records the commit being built
//! for `d365mcp_build_info`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../proto/d365mcp/worker/v1/worker.proto";
    println!("cargo:rerun-if-changed={proto}");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // A user's token is a credential: its Debug is written by hand
    // (`common::proto`), never derived.
    config.skip_debug(["d365mcp.worker.v1.CallToolRequest"]);
    tonic_prost_build::configure().compile_with_config(config, &[proto], &["../proto"])?;
    println!("cargo:rustc-env=D365MCP_BUILD_COMMIT={}", commit());
    Ok(())
}

/// `D365MCP_COMMIT` when set (a container build without `.git`), else the
/// checkout's short commit, else `unknown`. Rebuilt when HEAD moves.
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=D365MCP_COMMIT");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    if let Ok(commit) = std::env::var("D365MCP_COMMIT") {
        return clean(&commit);
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| clean(&String::from_utf8_lossy(&out.stdout)))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn clean(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect()
}
