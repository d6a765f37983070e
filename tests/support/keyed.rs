//! A keyed cluster on a Redis of the test's own: two edges reading an API
//! keys file and one worker, as the security tests attack it.

use super::{cluster::Cluster, redis::RedisServer};

/// alice's key (`alice-key`) of tenant contoso, as a keys-file entry.
pub const ALICE_ENTRY: &str = "[keys.alice]\n\
    sha256 = \"72ee9d4355ccb9d3a4c9dbf37382e38e75c1b1a225b5bd1f729ee91bbda30c20\"\n\
    tenant = \"contoso\"\n";

/// bob's key (`bob-key`) of tenant contoso, as a keys-file entry.
pub const BOB_ENTRY: &str = "[keys.bob]\n\
    sha256 = \"9b94dc1a51a38769f135edf04033ad7f2f487b6c25929be7a861cfc1ab10cf98\"\n\
    tenant = \"contoso\"\n";

/// A keys file holding `entries`, its name unique to `name` and this process.
pub fn keys_file(name: &str, entries: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("d365mcp-keys-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, entries).unwrap();
    path.to_string_lossy().into_owned()
}

/// Two edges with the keys file `keys` and `edge_args`, and a worker, all
/// on `redis`.
pub async fn cluster(redis: &RedisServer, keys: &str, edge_args: &[&str]) -> Cluster {
    let url = redis.url();
    let mut builder = Cluster::builder()
        .edges(2)
        .workers(1)
        .worker_arg("--redis-url")
        .worker_arg(&url);
    for arg in ["--redis-url", &url, "--api-keys-file", keys]
        .iter()
        .chain(edge_args)
    {
        builder = builder.edge_arg(arg);
    }
    builder.start().await
}
