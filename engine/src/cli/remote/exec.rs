//! `exec` and `top` over the API: an exec instance created, then started detached or on an
//! upgraded stream, its exit code read from the instance afterwards.

use anyhow::Result;
use hyper::Method;
use serde_json::json;

use super::super::attach::terminal_size;
use super::super::exec::ExecArgs;
use super::super::top::{render, TopArgs};
use super::super::Reported;
use super::{enc, stream};
use baleia_engine::client::Client;
use baleia_engine::container::top::ProcessList;

/// `exec [-d] [-i] [-t] [-e] [-u] [-w] CONTAINER COMMAND…`: exits with the command's code.
pub fn exec(c: &Client, a: &ExecArgs) -> Result<()> {
    let env = super::super::containers::environment(&a.env, &a.env_file)?;
    let tty = a.tty && !a.detach;
    let size = if tty { terminal_size() } else { None };
    let body = json!({
        "Cmd": a.command, "Env": env, "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "User": a.user.clone().unwrap_or_default(), "Privileged": a.privileged, "Tty": tty,
        "AttachStdin": a.interactive && !a.detach, "AttachStdout": !a.detach,
        "AttachStderr": !a.detach, "ConsoleSize": size.map(|(h, w)| [h, w]),
    });
    let made = c.json(
        Method::POST,
        &format!("/containers/{}/exec", enc(&a.container)),
        Some(&body),
    )?;
    let id = made["Id"].as_str().unwrap_or_default().to_string();
    let start = format!("/exec/{id}/start");
    if a.detach {
        c.send(
            Method::POST,
            &start,
            Some(&json!({"Detach": true, "Tty": false})),
        )?;
        return Ok(());
    }
    let conn = c.upgrade(
        &start,
        Some(&json!({"Detach": false, "Tty": tty, "ConsoleSize": size.map(|(h, w)| [h, w])})),
    )?;
    if !stream::pump(
        c,
        conn,
        a.interactive,
        tty,
        &format!("/exec/{id}/resize"),
        None,
    )? {
        return Ok(());
    }
    let info = c.json(Method::GET, &format!("/exec/{id}/json"), None)?;
    match info["ExitCode"].as_i64() {
        Some(0) => Ok(()),
        Some(code) => Err(Reported(code as i32).into()),
        None => Ok(()),
    }
}

/// `top CONTAINER [ps OPTIONS]`.
pub fn top(c: &Client, a: &TopArgs) -> Result<()> {
    let mut path = format!("/containers/{}/top", enc(&a.container));
    if !a.ps_args.is_empty() {
        path += &format!("?ps_args={}", enc(&a.ps_args.join(" ")));
    }
    let v = c.json(Method::GET, &path, None)?;
    let strings = |x: &serde_json::Value| -> Vec<String> {
        x.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    };
    let list = ProcessList {
        titles: strings(&v["Titles"]),
        processes: v["Processes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(strings)
            .collect(),
    };
    print!("{}", render(&list));
    Ok(())
}
