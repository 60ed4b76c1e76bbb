//! `container:` and `image:` checks, from `docker container inspect` and `docker image inspect`.

use serde_json::Value;

use super::{unmet, Failure};
use crate::backend::{Backend, Kind};
use crate::lab::model::{ContainerCheck, ImageCheck};

/// A container's state and exit code; `removed` means there is no such container.
pub(super) fn container(c: &ContainerCheck, backend: &Backend) -> Result<(), Failure> {
    let name = &c.name;
    let Some(v) = backend.inspect(Kind::Container, name)? else {
        return match c.state.as_deref() {
            Some("removed") => Ok(()),
            Some(want) => unmet(format!("container {name} does not exist, expected {want}")),
            None => unmet(format!("container {name} does not exist")),
        };
    };
    let status = status(&v);
    if let Some(want) = c.state.as_deref() {
        if status != want {
            return unmet(format!("container {name} is {status}, expected {want}"));
        }
    }
    if let Some(want) = c.exit_code {
        if status != "exited" && status != "dead" {
            return unmet(format!(
                "container {name} is {status}, expected it to have exited with code {want}"
            ));
        }
        let code = v["State"]["ExitCode"].as_i64().unwrap_or(0);
        if code != want {
            return unmet(format!(
                "container {name} exited with code {code}, expected {want}"
            ));
        }
    }
    Ok(())
}

/// `State.Status` (`running`, `exited`, …).
fn status(v: &Value) -> String {
    v["State"]["Status"]
        .as_str()
        .unwrap_or("in an unknown state")
        .to_string()
}

/// The host PID of a running container's first process.
pub(super) fn running_pid(backend: &Backend, name: &str) -> Result<u32, Failure> {
    let Some(v) = backend.inspect(Kind::Container, name)? else {
        return unmet(format!("container {name} does not exist"));
    };
    let pid = v["State"]["Pid"].as_u64().unwrap_or(0);
    let running = v["State"]["Running"].as_bool().unwrap_or(false);
    if !running || pid == 0 {
        return unmet(format!(
            "container {name} is {}, expected running",
            status(&v)
        ));
    }
    Ok(pid as u32)
}

/// An image is there (or not), with so many layers (`RootFS.Layers`).
pub(super) fn image(c: &ImageCheck, backend: &Backend) -> Result<(), Failure> {
    let name = &c.name;
    let found = backend.inspect(Kind::Image, name)?;
    let v = match (found, c.present) {
        (None, false) => return Ok(()),
        (None, true) => return unmet(format!("image {name} is not present")),
        (Some(_), false) => return unmet(format!("image {name} is present, expected absent")),
        (Some(v), true) => v,
    };
    if let Some(want) = c.layers {
        let n = v["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
        if n != want {
            return unmet(format!(
                "image {name} has {}, expected {want}",
                plural(n, "layer")
            ));
        }
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
