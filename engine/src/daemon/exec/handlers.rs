//! The exec endpoints: `POST /containers/{id}/exec` (create), `POST /exec/{id}/start`,
//! `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::instance::{Exec, ExecConfig};
use super::launch::{launch, Attach, Event};
use super::relay;
use crate::container::exec::ExecOptions;
use crate::daemon::attach::ResizeQuery;
use crate::daemon::errors::ApiError;
use crate::daemon::routes::{blocking, AppState};

/// Body of `POST /containers/{id}/exec` (Docker's `ExecConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    privileged: bool,
    tty: bool,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    detach_keys: Option<String>,
    console_size: Option<Vec<u16>>,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StartBody {
    detach: bool,
    console_size: Option<Vec<u16>>,
}

/// `[height, width]` → rows and columns (none for a missing or zero size).
fn size(v: Option<&[u16]>) -> Option<(u16, u16)> {
    match v {
        Some(&[h, w]) if h > 0 && w > 0 => Some((h, w)),
        _ => None,
    }
}

fn not_running(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        message: format!("container {id} is not running"),
    }
}

/// `POST /containers/{id}/exec`: `201 {"Id": …}`; 409 if the container is not running.
pub async fn create(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(b): Json<CreateBody>,
) -> Result<Response, ApiError> {
    let argv = b.cmd.unwrap_or_default();
    if argv.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let e = s.engine.clone();
    let c = blocking(move || Ok(e.resolve_container(&id)?)).await?;
    if !c.state.running {
        return Err(not_running(&c.id));
    }
    let exec = s.execs.add(ExecConfig {
        container_id: c.id,
        argv,
        env: b.env.unwrap_or_default(),
        workdir: b.working_dir.filter(|w| !w.is_empty()),
        user: b.user.filter(|u| !u.is_empty()),
        privileged: b.privileged,
        tty: b.tty,
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        detach_keys: b.detach_keys.unwrap_or_default(),
        console_size: size(b.console_size.as_deref()),
    });
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec.id }))).into_response())
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.execs.get(&id)?.inspect()))
}

/// `POST /exec/{id}/resize?h=&w=`: the terminal's new size (kept until it has a terminal).
pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> Result<StatusCode, ApiError> {
    let exec = s.execs.get(&id)?;
    let (h, w) = q.size()?;
    exec.resize(h, w);
    Ok(StatusCode::OK)
}

/// `POST /exec/{id}/start`: with `Detach`, 200 once the process runs; else `101` and the
/// process's stdio on the upgraded connection (raw with a terminal, framed without).
pub async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let exec = s.execs.get(&id)?;
    let upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
    let b: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let upgrade = match (b.detach, upgrade) {
        (true, _) => None,
        (false, Some(u)) => Some(u),
        (false, None) => {
            return Err(ApiError::bad_request(
                "exec start needs an upgraded connection (Upgrade: tcp) unless detached",
            ))
        }
    };
    let e = s.engine.clone();
    let cid = exec.config.container_id.clone();
    let running = blocking(move || Ok(e.resolve_container(&cid)?.state.running)).await?;
    if !running {
        return Err(not_running(&exec.config.container_id));
    }
    exec.begin()?;
    let c = &exec.config;
    let attached = !b.detach;
    let tty = c.tty && attached;
    let opts = ExecOptions {
        argv: c.argv.clone(),
        env: c.env.clone(),
        workdir: c.workdir.clone(),
        user: c.user.clone(),
        privileged: c.privileged,
        interactive: c.attach_stdin && attached,
        tty,
        size: size(b.console_size.as_deref()).or(c.console_size),
        detach: false,
    };
    let attach = Attach {
        stdin: attached && !tty && c.attach_stdin,
        stdout: attached && !tty && c.attach_stdout,
        stderr: attached && !tty && c.attach_stderr,
    };
    let e = s.engine.clone();
    let cid = c.container_id.clone();
    let launched = blocking(move || {
        launch(&e, &cid, &opts, attach).map_err(|err| ApiError::internal(err.to_string()))
    })
    .await;
    let (helper, pipes) = match launched {
        Ok(l) => l,
        Err(err) => {
            exec.finish(126);
            return Err(err);
        }
    };
    let (tx, mut events) = mpsc::unbounded_channel();
    if let Err(err) = helper.follow(Arc::clone(&exec), tx) {
        exec.finish(126);
        return Err(ApiError::internal(err.to_string()));
    }
    let Some(upgrade) = upgrade else {
        return detached(&mut events).await;
    };
    let stdin = c.attach_stdin;
    let relayed = Arc::clone(&exec);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return abandon(relayed, events).await;
        };
        let client = TokioIo::new(upgraded);
        if tty {
            relay::terminal(client, relayed, stdin, events).await;
        } else {
            relay::pipes(client, pipes, events).await;
        }
    });
    Ok(crate::daemon::stdcopy::upgraded(tty))
}

/// A detached start: 200 once the process runs, or Docker's error if it could not be started.
async fn detached(events: &mut mpsc::UnboundedReceiver<Event>) -> Result<Response, ApiError> {
    loop {
        match events.recv().await {
            Some(Event::Started | Event::Exited) | None => {
                return Ok(StatusCode::OK.into_response())
            }
            Some(Event::Failed(message)) => {
                return Err(ApiError::bad_request(relay::start_failure(&message)))
            }
            Some(Event::Terminal(_)) => continue,
        }
    }
}

/// The client left before the upgrade: let go of a terminal as soon as one comes.
async fn abandon(exec: Arc<Exec>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Terminal(_) => exec.release_terminal(),
            Event::Exited | Event::Failed(_) => return,
            Event::Started => {}
        }
    }
}
