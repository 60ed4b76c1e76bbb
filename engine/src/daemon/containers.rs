//! Containers: list, inspect, create, start, stop, kill, restart, wait, remove, rename, logs,
//! prune.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::routes::{blocking, flag, AppState};
use crate::container::create::CreateOptions;
use crate::container::{Container, HostConfig};
use crate::engine::Engine;
use crate::error::Error;
use crate::image::parse_time;

/// Query of `GET /containers/json`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    all: Option<String>,
    limit: Option<i64>,
    filters: Option<String>,
}

/// `GET /containers/json?all=&limit=&filters=`: newest first.
pub async fn list(
    State(e): State<Engine>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let all = flag(&q.all);
    let filters: BTreeMap<String, Vec<String>> = match q.filters.as_deref() {
        Some(f) if !f.is_empty() => parse_filters(f)?,
        _ => BTreeMap::new(),
    };
    let v = blocking(move || {
        let mut cs = e.containers()?;
        cs.reverse();
        let now = chrono::Utc::now();
        let mut rows: Vec<Value> = cs
            .iter()
            .filter(|c| all || q.limit.is_some_and(|l| l > 0) || c.state.running)
            .filter(|c| matches_filters(c, &filters))
            .map(|c| {
                let mode = e
                    .host_config(&c.id)
                    .map(|h| h.network_mode)
                    .unwrap_or_default();
                summary(c, &mode, now)
            })
            .collect();
        if let Some(l) = q.limit.filter(|l| *l > 0) {
            rows.truncate(l as usize);
        }
        Ok(rows)
    })
    .await?;
    Ok(Json(Value::Array(v)))
}

/// Docker's filters: `{"status":["running"]}` or `{"status":{"running":true}}`.
pub(super) fn parse_filters(s: &str) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let v: Value =
        serde_json::from_str(s).map_err(|e| ApiError::bad_request(format!("filters: {e}")))?;
    let mut out = BTreeMap::new();
    for (k, vals) in v.as_object().into_iter().flatten() {
        let list: Vec<String> = match vals {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Value::Object(o) => o.keys().cloned().collect(),
            _ => Vec::new(),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

fn matches_filters(c: &Container, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        vals.is_empty()
            || vals.iter().any(|v| match k.as_str() {
                "status" => c.state.status == *v,
                "name" => c.bare_name().contains(v.trim_start_matches('/')),
                "id" => c.id.starts_with(v.as_str()),
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => c.config.labels.get(lk).is_some_and(|x| x == lv),
                    None => c.config.labels.contains_key(v.as_str()),
                },
                "exited" => !c.state.running && c.state.exit_code.to_string() == *v,
                _ => true,
            })
    })
}

/// One row of the container list, with Docker's field names.
fn summary(c: &Container, network_mode: &str, now: chrono::DateTime<chrono::Utc>) -> Value {
    let mut ports = Vec::new();
    for (key, bindings) in &c.network_settings.ports {
        let Some((private, proto)) = crate::network::ports::split_port(key) else {
            continue;
        };
        match bindings {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    ports.push(json!({
                        "IP": crate::network::ports::host_ip(b),
                        "PrivatePort": private,
                        "PublicPort": b.host_port.parse::<u16>().unwrap_or(0),
                        "Type": proto,
                    }));
                }
            }
            _ => ports.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.config.image,
        "ImageID": c.image,
        "Command": c.command_line(),
        "Created": parse_time(&c.created).map(|t| t.timestamp()).unwrap_or(0),
        "Ports": ports,
        "Labels": c.config.labels,
        "State": c.state.status,
        "Status": c.status_line(now),
        "HostConfig": {"NetworkMode": network_mode},
        "NetworkSettings": {"Networks": c.network_settings.networks},
        "Mounts": [],
    })
}

/// `GET /containers/{id}/json`.
pub async fn inspect(
    State(e): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = blocking(move || Ok(e.inspect_container(&e.resolve_container(&id)?)?)).await?;
    Ok(Json(v))
}

/// Body of `POST /containers/create`: Docker's container config with `HostConfig` inside.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    image: String,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Option<Vec<String>>,
    tty: bool,
    open_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    working_dir: String,
    user: String,
    hostname: String,
    exposed_ports: Option<BTreeMap<String, Value>>,
    labels: Option<BTreeMap<String, String>>,
    host_config: Option<HostConfigBody>,
    networking_config: Option<NetworkingConfig>,
}

/// `HostConfig` of a create body: every field optional, as the CLI may send `null`s.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfigBody {
    binds: Option<Vec<String>>,
    network_mode: Option<String>,
    port_bindings: Option<BTreeMap<String, Option<Vec<crate::container::model::PortBinding>>>>,
    publish_all_ports: bool,
    links: Option<Vec<String>>,
    dns: Option<Vec<String>>,
    auto_remove: bool,
    privileged: bool,
    readonly_rootfs: bool,
    init: Option<bool>,
    memory: i64,
    memory_swap: i64,
    cpu_shares: i64,
    nano_cpus: i64,
    pids_limit: Option<i64>,
}

/// `NetworkingConfig` of a create body (aliases on the container's network).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, Option<EndpointConfig>>>,
}

/// One `EndpointsConfig` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

/// Query of `POST /containers/create`.
#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    name: Option<String>,
}

impl CreateBody {
    fn options(self, name: Option<String>) -> Result<CreateOptions, ApiError> {
        if self.image.is_empty() {
            return Err(ApiError::bad_request(
                "config cannot be empty in order to create a container",
            ));
        }
        let h = self.host_config.unwrap_or_default();
        let network_mode = match h.network_mode.as_deref() {
            None | Some("") | Some("default") => "bridge".to_string(),
            Some(m) => m.to_string(),
        };
        let port_bindings = h
            .port_bindings
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        let host = HostConfig {
            binds: h.binds.unwrap_or_default(),
            network_mode,
            port_bindings,
            publish_all_ports: h.publish_all_ports,
            links: h.links.unwrap_or_default(),
            dns: h.dns.unwrap_or_default(),
            auto_remove: h.auto_remove,
            privileged: h.privileged,
            readonly_rootfs: h.readonly_rootfs,
            init: h.init.filter(|i| *i),
            memory: h.memory,
            memory_swap: h.memory_swap,
            cpu_shares: h.cpu_shares,
            nano_cpus: h.nano_cpus,
            pids_limit: h.pids_limit,
        };
        // baleia keeps one entrypoint word; further words go before the command.
        let mut cmd = self.cmd.unwrap_or_default();
        let entrypoint = match self.entrypoint {
            None => None,
            Some(ep) if ep.is_empty() => None,
            Some(mut ep) => {
                let first = ep.remove(0);
                cmd.splice(0..0, ep);
                Some(first)
            }
        };
        let aliases = self
            .networking_config
            .and_then(|n| n.endpoints_config)
            .into_iter()
            .flatten()
            .filter_map(|(_, ep)| ep.and_then(|ep| ep.aliases))
            .flatten()
            .collect();
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        Ok(CreateOptions {
            image: self.image,
            name: name.filter(|n| !n.is_empty()),
            cmd,
            entrypoint,
            env: self.env.unwrap_or_default(),
            workdir: nonempty(self.working_dir),
            hostname: nonempty(self.hostname),
            user: nonempty(self.user),
            tty: self.tty,
            interactive: self.open_stdin,
            attach: self.attach_stdout || self.attach_stderr,
            host,
            network_aliases: aliases,
            expose: self.exposed_ports.unwrap_or_default().into_keys().collect(),
            labels: self.labels.unwrap_or_default(),
        })
    }
}

/// `POST /containers/create?name=`: `{"Id": …, "Warnings": []}`; a missing image is a 404
/// `No such image: NAME:TAG`, on which the CLI pulls and tries again.
pub async fn create(
    State(e): State<Engine>,
    Query(q): Query<CreateQuery>,
    Json(b): Json<CreateBody>,
) -> Result<Response, ApiError> {
    let opts = b.options(q.name)?;
    let c = blocking(move || {
        e.create_container(&opts).map_err(|err| match err {
            Error::Runtime(m) if m.starts_with("Invalid container name") => {
                ApiError::bad_request(m)
            }
            err => err.into(),
        })
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": c.id, "Warnings": []})),
    )
        .into_response())
}

/// `POST /containers/{id}/start`: 204, or 304 when it already runs. A client attached before
/// the start gets the monitor's stream (PID 1 waits for it).
pub async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let e = s.engine.clone();
    let c = blocking(move || Ok(e.resolve_container(&id)?)).await?;
    if c.state.running {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    let waiting = s.pending.take(&c.id);
    let e = s.engine.clone();
    let id = c.id.clone();
    blocking(move || {
        match waiting {
            Some((hello, tx)) => {
                if let (_, Some(stream)) = e.start_container(&id, Some(&hello))? {
                    let _ = tx.send(stream);
                }
            }
            None => {
                e.start_container(&id, None)?;
            }
        }
        Ok(())
    })
    .await?;
    let _ = s.started.send(c.id);
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `stop` and `restart`.
#[derive(Debug, Deserialize)]
pub struct StopQuery {
    t: Option<i64>,
    signal: Option<String>,
}

/// `POST /containers/{id}/stop?t=&signal=`: 204, or 304 when it was not running.
pub async fn stop(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        if !e.resolve_container(&id)?.state.running {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        e.stop_container(
            &id,
            timeout(q.t),
            q.signal.as_deref().filter(|s| !s.is_empty()),
        )?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

fn timeout(t: Option<i64>) -> Option<u64> {
    t.map(|t| if t < 0 { u64::MAX / 4 } else { t as u64 })
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        e.stop_container(
            &id,
            timeout(q.t),
            q.signal.as_deref().filter(|s| !s.is_empty()),
        )?;
        e.start_container(&id, None)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Query of `kill`.
#[derive(Debug, Deserialize)]
pub struct KillQuery {
    signal: Option<String>,
}

/// `POST /containers/{id}/kill?signal=` (default SIGKILL); 409 when it is not running.
pub async fn kill(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<KillQuery>,
) -> Result<StatusCode, ApiError> {
    let sig = q
        .signal
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "KILL".into());
    blocking(move || {
        e.kill_container(&id, &sig).map_err(|err| match err {
            Error::Runtime(m) if m.starts_with("Invalid signal") => ApiError::bad_request(m),
            err => err.into(),
        })?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Query of `wait`.
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    condition: Option<String>,
}

/// `POST /containers/{id}/wait?condition=`: the 200 header at once, then
/// `{"StatusCode": N, "Error": null}` when the container is not running (`not-running`), or after
/// its next exit (`next-exit`, `removed`: the CLI waits for the header before it starts one).
pub async fn wait(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let mut started = s.started.subscribe();
    let e = s.engine.clone();
    let c = blocking(move || Ok(e.resolve_container(&id)?)).await?;
    let next = matches!(q.condition.as_deref(), Some("next-exit" | "removed"));
    let e = s.engine.clone();
    let body = futures::stream::once(async move {
        if next && !c.state.running {
            wait_for_start(&e, &c, &mut started).await;
        }
        let code = tokio::task::spawn_blocking(move || {
            let code = e.wait_exit(&c, None)?;
            Ok::<_, Error>(match e.load_container(&c.id)? {
                Some(c) => c.state.exit_code,
                None => code.unwrap_or(c.state.exit_code),
            })
        })
        .await;
        let v = match code {
            Ok(Ok(code)) => json!({"StatusCode": code, "Error": null}),
            Ok(Err(err)) => json!({"StatusCode": -1, "Error": {"Message": err.to_string()}}),
            Err(err) => json!({"StatusCode": -1, "Error": {"Message": err.to_string()}}),
        };
        Ok::<_, Infallible>(Bytes::from(format!("{v}\n")))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// Until this daemon starts `c` (or, if another client starts it, its record says it started
/// again).
async fn wait_for_start(
    e: &Engine,
    c: &Container,
    started: &mut tokio::sync::broadcast::Receiver<String>,
) {
    let id = c.id.as_str();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(1), started.recv()).await {
            Ok(Ok(s)) if s == id => return,
            Ok(Ok(_)) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
            Ok(Err(_)) | Err(_) => {
                let e = e.clone();
                let (id, before) = (id.to_string(), c.state.started_at.clone());
                let ran = tokio::task::spawn_blocking(move || {
                    e.load_container(&id)
                        .map(|c| c.is_none_or(|c| c.state.running || c.state.started_at != before))
                })
                .await;
                if !matches!(ran, Ok(Ok(false))) {
                    return;
                }
            }
        }
    }
}

/// Query of `DELETE /containers/{id}`.
#[derive(Debug, Deserialize)]
pub struct RemoveQuery {
    force: Option<String>,
}

/// `DELETE /containers/{id}?force=`: 204; 409 for a running one without `force`.
pub async fn remove(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    let force = flag(&q.force);
    blocking(move || Ok(e.remove_container(&id, force)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `rename`.
#[derive(Debug, Deserialize)]
pub struct RenameQuery {
    name: Option<String>,
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<RenameQuery>,
) -> Result<StatusCode, ApiError> {
    let name = q
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("new name is required"))?;
    blocking(move || Ok(e.rename_container(&id, &name)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `logs`.
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    stdout: Option<String>,
    stderr: Option<String>,
    follow: Option<String>,
    tail: Option<String>,
    timestamps: Option<String>,
}

/// `GET /containers/{id}/logs`: Docker's 8-byte framed stream (`[stream,0,0,0,len]`) for a
/// container without a terminal, the raw bytes for one with.
pub async fn logs(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let (want_out, want_err) = (flag(&q.stdout), flag(&q.stderr));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.tail.as_deref() {
        None | Some("") | Some("all") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => return Err(ApiError::bad_request(format!("invalid tail {n:?}"))),
        },
    };
    let (follow, stamps) = (flag(&q.follow), flag(&q.timestamps));
    let lookup = e.clone();
    let c = blocking(move || Ok(lookup.resolve_container(&id)?)).await?;
    let tty = c.config.tty;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::task::spawn_blocking(move || {
        // A reader that went away stops a follow at the next record.
        let _ = e.read_logs_while(&c, tail, follow, &mut |r| {
            let err = r.stream == "stderr";
            if (err && !want_err) || (!err && !want_out) {
                return !tx.is_closed();
            }
            let text = if stamps {
                format!("{} {}", r.time, r.log)
            } else {
                r.log.clone()
            };
            tx.blocking_send(frame(tty, err, text.as_bytes())).is_ok()
        });
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let kind = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(header::CONTENT_TYPE, kind)], Body::from_stream(body)).into_response())
}

/// Docker's stdcopy frame (or the bytes alone on a terminal).
fn frame(tty: bool, stderr: bool, data: &[u8]) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(data);
    }
    Bytes::from(super::stdcopy::frame(if stderr { 2 } else { 1 }, data))
}

/// Query of `top`.
#[derive(Debug, Deserialize)]
pub struct TopQuery {
    ps_args: Option<String>,
}

/// `GET /containers/{id}/top?ps_args=`: `{"Titles": […], "Processes": [[…]]}`; 409 when stopped.
pub async fn top(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<TopQuery>,
) -> Result<Json<Value>, ApiError> {
    let args: Vec<String> = q.ps_args.into_iter().filter(|a| !a.is_empty()).collect();
    let list = blocking(move || {
        e.top(&id, &args).map_err(|err| match err {
            Error::Runtime(m) if m.ends_with("is not running") => ApiError {
                status: StatusCode::CONFLICT,
                message: m,
            },
            err => err.into(),
        })
    })
    .await?;
    Ok(Json(
        json!({"Titles": list.titles, "Processes": list.processes}),
    ))
}

/// `POST /containers/prune`: `{"ContainersDeleted": […], "SpaceReclaimed": N}`.
pub async fn prune(State(e): State<Engine>) -> Result<Json<Value>, ApiError> {
    let (ids, bytes) = blocking(move || Ok(e.prune_containers()?)).await?;
    Ok(Json(
        json!({"ContainersDeleted": ids, "SpaceReclaimed": bytes}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_frames_are_dockers_stdcopy_or_raw_on_a_terminal() {
        assert_eq!(
            &frame(false, false, b"hi\n")[..],
            b"\x01\0\0\0\0\0\0\x03hi\n"
        );
        assert_eq!(&frame(false, true, b"e")[..], b"\x02\0\0\0\0\0\0\x01e");
        assert_eq!(&frame(true, true, b"raw")[..], b"raw");
    }

    #[test]
    fn filters_read_both_of_dockers_shapes() {
        let a = parse_filters(r#"{"status":["running"],"name":{"web":true}}"#).unwrap();
        assert_eq!(a["status"], vec!["running"]);
        assert_eq!(a["name"], vec!["web"]);
        assert!(parse_filters("not json").is_err());
    }

    #[test]
    fn a_create_body_becomes_create_options() {
        let b: CreateBody = serde_json::from_value(json!({
            "Image": "busybox", "Cmd": ["-c", "echo hi"], "Entrypoint": ["sh"],
            "Env": ["A=1"], "Tty": false, "OpenStdin": true, "AttachStdout": true,
            "ExposedPorts": {"80/tcp": {}}, "Labels": {"k": "v"},
            "HostConfig": {"NetworkMode": "default", "Binds": null, "AutoRemove": true,
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Memory": 1048576},
            "NetworkingConfig": {"EndpointsConfig": {"net": {"Aliases": ["web"]}}},
        }))
        .unwrap();
        let o = b.options(Some("x1".into())).unwrap();
        assert_eq!(o.entrypoint.as_deref(), Some("sh"));
        assert_eq!(o.cmd, ["-c", "echo hi"]);
        assert_eq!(o.host.network_mode, "bridge");
        assert!(o.host.auto_remove && o.interactive && o.attach);
        assert_eq!(o.host.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(o.network_aliases, ["web"]);
        assert_eq!(o.expose, ["80/tcp"]);
        assert_eq!(o.labels["k"], "v");
        let empty: CreateBody = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            empty.options(None).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn what_the_client_sends_the_daemon_reads_back() {
        let mut o = CreateOptions {
            image: "busybox".into(),
            name: Some("web".into()),
            cmd: vec!["httpd".into(), "-f".into()],
            entrypoint: Some(String::new()),
            env: vec!["A=1".into()],
            workdir: Some("/srv".into()),
            hostname: Some("h".into()),
            user: Some("1000".into()),
            tty: true,
            interactive: true,
            attach: true,
            network_aliases: vec!["www".into()],
            expose: vec!["80/tcp".into()],
            ..Default::default()
        };
        o.labels.insert("k".into(), "v".into());
        o.host.network_mode = "neotech".into();
        o.host.auto_remove = true;
        o.host.memory = 64 << 20;
        o.host.init = Some(true);
        o.host.port_bindings.insert(
            "80/tcp".into(),
            vec![crate::container::model::PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: "8080".into(),
            }],
        );
        let body: CreateBody = serde_json::from_value(crate::client::create_body(&o)).unwrap();
        assert_eq!(body.options(Some("web".into())).unwrap(), o);
        let plain = CreateOptions {
            image: "busybox".into(),
            host: HostConfig {
                network_mode: "bridge".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let body: CreateBody = serde_json::from_value(crate::client::create_body(&plain)).unwrap();
        assert_eq!(body.options(None).unwrap(), plain);
    }

    #[test]
    fn an_empty_body_is_refused() {
        let empty: CreateBody = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            empty.options(None).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
