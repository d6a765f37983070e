//! `--spawn`'s value: the local cluster to start, as `key=value` pairs.
//!
//! `edges=2,workers=2,redis,sim-latency-ms=5` — keys: `edges`, `workers`
//! (at least 1 each, default 1), `redis` (a bare flag, or `redis=true|false`),
//! `redis-cluster` (a bare flag: a Redis Cluster of three masters instead),
//! `sim-latency-ms` (default 0). An empty value (`--spawn ""` or `default`)
//! is one edge, one worker and the simulator.

use super::Spawn;

impl Spawn {
    /// Parses `--spawn`'s value; the error says which pair is wrong.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut spawn = Spawn::default();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if pair == "default" {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let count = |what: &str| -> Result<usize, String> {
                match value.parse::<usize>() {
                    Ok(n) if (1..=16).contains(&n) => Ok(n),
                    _ => Err(format!("`{pair}`: {what} must be a number from 1 to 16")),
                }
            };
            match key {
                "edges" => spawn.edges = count("edges")?,
                "workers" => spawn.workers = count("workers")?,
                "redis" => {
                    spawn.redis = match value {
                        "" | "true" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "`{pair}`: redis is `redis`, `redis=true` or `redis=false`"
                            ));
                        }
                    }
                }
                "redis-cluster" if value.is_empty() => spawn.redis_cluster = true,
                "sim-latency-ms" => {
                    spawn.sim_latency_ms = value
                        .parse()
                        .ok()
                        .filter(|ms| *ms <= 60_000)
                        .ok_or_else(|| format!("`{pair}`: sim-latency-ms must be 0 to 60000"))?;
                }
                _ => {
                    return Err(format!(
                        "`{pair}` is not a spawn setting; use edges=N, workers=N, redis, redis-cluster, sim-latency-ms=N"
                    ));
                }
            }
        }
        Ok(spawn)
    }
}

#[cfg(test)]
mod tests {
    use super::Spawn;

    #[test]
    fn reads_each_setting() {
        let spawn = Spawn::parse("edges=2, workers=3,redis,sim-latency-ms=5").unwrap();
        assert_eq!(
            (
                spawn.edges,
                spawn.workers,
                spawn.redis,
                spawn.sim_latency_ms
            ),
            (2, 3, true, 5)
        );
        assert!(Spawn::parse("redis-cluster").unwrap().redis_cluster);
        let plain = Spawn::parse("default").unwrap();
        assert_eq!((plain.edges, plain.workers, plain.redis), (1, 1, false));
    }

    #[test]
    fn names_the_wrong_pair() {
        for (spec, says) in [
            ("edges=0", "edges=0"),
            ("workers=x", "workers=x"),
            ("redis=maybe", "redis=maybe"),
            ("latency=5", "not a spawn setting"),
            ("sim-latency-ms=-1", "sim-latency-ms"),
        ] {
            let e = Spawn::parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }
}
