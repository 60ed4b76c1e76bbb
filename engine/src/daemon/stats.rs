//! `GET /containers/{id}/stats?stream=&one-shot=`: the engine's usage samples (cgroup v1 or v2,
//! and the container's interfaces) in Docker's stats JSON, from which `docker stats` computes
//! CPU %, MEM USAGE / LIMIT, NET I/O, BLOCK I/O and PIDS. Without `one-shot`, each document
//! compares two samples a second apart (`precpu_stats`), as dockerd's do.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::routes::{blocking, flag};
use crate::container::stats::Sample;
use crate::container::Container;
use crate::engine::Engine;

/// Time between two samples.
const INTERVAL: Duration = Duration::from_secs(1);

/// Query of `stats`.
#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

/// A sample and when it was taken.
type Taken = (Sample, DateTime<Utc>);

/// `GET /containers/{id}/stats`: one document (`stream=false`), or one a second until the
/// container stops or the client leaves.
pub async fn stats(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let stream = q.stream.is_none() || flag(&q.stream);
    let (c, first) = sample(&e, id).await?;
    if !stream {
        let (c, cur, prev) = if flag(&q.one_shot) {
            (c, first, None)
        } else {
            tokio::time::sleep(INTERVAL).await;
            let (c, cur) = sample(&e, c.id.clone()).await?;
            (c, cur, Some(first))
        };
        let doc = document(&c, prev.as_ref(), &cur);
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            doc.to_string(),
        )
            .into_response());
    }
    let docs = futures::stream::unfold((e, c.id, first, false), |(e, id, prev, done)| async move {
        if done {
            return None;
        }
        tokio::time::sleep(INTERVAL).await;
        let (c, cur) = sample(&e, id.clone()).await.ok()?;
        let mut text = document(&c, Some(&prev), &cur).to_string();
        text.push('\n');
        let done = !c.state.running;
        Some((Ok::<_, Infallible>(Bytes::from(text)), (e, id, cur, done)))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(docs),
    )
        .into_response())
}

/// The container now and its usage.
async fn sample(e: &Engine, id: String) -> Result<(Container, Taken), ApiError> {
    let e = e.clone();
    blocking(move || {
        let c = e.resolve_container(&id)?;
        let s = e.sample_stats(&c)?;
        Ok((c, (s, Utc::now())))
    })
    .await
}

fn time(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Nanos, true),
    )
}

/// `cpu_stats` / `precpu_stats` of a sample (zeros without one).
fn cpu(s: Option<&Sample>) -> Value {
    let Some(c) = s.and_then(|s| s.cgroup.as_ref()) else {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
            "usage_in_usermode": 0}, "throttling_data": {"periods": 0,
            "throttled_periods": 0, "throttled_time": 0}});
    };
    json!({
        "cpu_usage": {"total_usage": c.cpu_usage_ns, "usage_in_kernelmode": 0,
            "usage_in_usermode": 0},
        "system_cpu_usage": c.system_cpu_usage_ns,
        "online_cpus": c.online_cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

/// Docker's stats document for `cur`, with `prev` as `precpu_stats`.
fn document(c: &Container, prev: Option<&Taken>, cur: &Taken) -> Value {
    let (now, read) = cur;
    let mut doc = json!({
        "name": c.name,
        "id": c.id,
        "read": time(Some(read)),
        "preread": time(prev.map(|p| &p.1)),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(Some(now)),
        "precpu_stats": cpu(prev.map(|p| &p.0)),
        "pids_stats": {},
        "memory_stats": {},
        "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null,
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null},
    });
    let Some(s) = &now.cgroup else {
        return doc;
    };
    let mut pids = json!({ "current": s.pids_current });
    if let Some(l) = s.pids_limit {
        pids["limit"] = json!(l);
    }
    doc["pids_stats"] = pids;
    // `usage` is already without the inactive page cache, so `stats` needs no cache figures.
    doc["memory_stats"] = json!({"usage": s.memory_usage, "limit": s.memory_limit, "stats": {}});
    let entry = |op: &str, value: u64| json!({"major": 0, "minor": 0, "op": op, "value": value});
    doc["blkio_stats"]["io_service_bytes_recursive"] =
        json!([entry("read", s.blkio_read), entry("write", s.blkio_write)]);
    if !now.interfaces.is_empty() {
        doc["networks"] = json!(now.interfaces);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::{cpu_percent, Stats};
    use crate::container::stats::NetCounters;

    fn container() -> Container {
        Container::for_tests("web", "sh", &[])
    }

    #[test]
    fn the_cli_reads_the_engine_figures_back() {
        let at = Utc::now();
        let stats = |cpu, system| Stats {
            cpu_usage_ns: cpu,
            system_cpu_usage_ns: system,
            online_cpus: 2,
            memory_usage: 3 << 20,
            memory_limit: 64 << 20,
            pids_current: 2,
            pids_limit: Some(100),
            blkio_read: 4096,
            blkio_write: 8192,
        };
        let prev = Sample {
            cgroup: Some(stats(1_000, 10_000)),
            ..Sample::default()
        };
        let mut cur = Sample {
            cgroup: Some(stats(1_500, 12_000)),
            ..Sample::default()
        };
        cur.interfaces.insert(
            "eth0".into(),
            NetCounters {
                rx_bytes: 1200,
                tx_bytes: 648,
                ..NetCounters::default()
            },
        );
        let d = document(&container(), Some(&(prev.clone(), at)), &(cur.clone(), at));
        // The docker CLI's formula: cpu delta / system delta × online CPUs × 100.
        let n = |v: &Value| v.as_f64().unwrap();
        let cli = (n(&d["cpu_stats"]["cpu_usage"]["total_usage"])
            - n(&d["precpu_stats"]["cpu_usage"]["total_usage"]))
            / (n(&d["cpu_stats"]["system_cpu_usage"]) - n(&d["precpu_stats"]["system_cpu_usage"]))
            * n(&d["cpu_stats"]["online_cpus"])
            * 100.0;
        let ours = cpu_percent(prev.cgroup.as_ref().unwrap(), cur.cgroup.as_ref().unwrap());
        assert!((cli - ours).abs() < 1e-9 && ours > 0.0, "{cli} vs {ours}");
        assert_eq!(d["memory_stats"]["limit"], 64 << 20);
        assert_eq!(d["pids_stats"], json!({"current": 2, "limit": 100}));
        assert_eq!(d["networks"]["eth0"]["rx_bytes"], 1200);
        assert_eq!(
            d["blkio_stats"]["io_service_bytes_recursive"][1]["value"],
            8192
        );
        assert_eq!(
            (d["name"].as_str(), d["id"].as_str().map(str::len)),
            (Some("/web"), Some(64))
        );

        let one_shot = document(&container(), None, &(cur, at));
        assert_eq!(one_shot["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(one_shot["precpu_stats"]["cpu_usage"]["total_usage"], 0);
        let stopped = document(&container(), None, &(Sample::default(), at));
        assert_eq!(stopped["memory_stats"], json!({}));
        assert!(stopped.get("networks").is_none());
    }
}
