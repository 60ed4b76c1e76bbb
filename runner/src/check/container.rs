//! `container:` and `image:` checks, from `docker container inspect` and `docker image inspect`.

use serde_json::Value;

use super::{unmet, Failure};
use crate::backend::{Backend, Kind};
use crate::lab::model::{ContainerCheck, ImageCheck};

/// A container's state and exit code; `removed` means there is no such container.
pub(super) fn container(c: &ContainerCheck, backend: &Backend) -> Result<(), Failure> {
    judge_container(c, backend.inspect(Kind::Container, &c.name)?.as_ref())
}

/// Judge a container check against `docker container inspect`'s object (`None`: no such one).
fn judge_container(c: &ContainerCheck, v: Option<&Value>) -> Result<(), Failure> {
    let name = &c.name;
    let Some(v) = v else {
        return match c.state.as_deref() {
            Some("removed") => Ok(()),
            Some(want) => unmet(format!("container {name} does not exist, expected {want}")),
            None => unmet(format!("container {name} does not exist")),
        };
    };
    let status = status(v);
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
    judge_image(c, backend.inspect(Kind::Image, &c.name)?.as_ref())
}

/// Judge an image check against `docker image inspect`'s object (`None`: no such one).
fn judge_image(c: &ImageCheck, found: Option<&Value>) -> Result<(), Failure> {
    let name = &c.name;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctr(state: Option<&str>, exit_code: Option<i64>) -> ContainerCheck {
        ContainerCheck {
            name: "baleia".into(),
            state: state.map(String::from),
            exit_code,
        }
    }

    fn said(r: Result<(), Failure>) -> String {
        match r {
            Err(Failure::Unmet(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn container_failures_say_what_was_seen_and_expected() {
        let running = json!({"State": {"Status": "running", "ExitCode": 0}});
        let killed = json!({"State": {"Status": "exited", "ExitCode": 137}});
        assert_eq!(
            judge_container(&ctr(Some("running"), None), Some(&running)),
            Ok(())
        );
        assert_eq!(
            said(judge_container(&ctr(Some("exited"), None), Some(&running))),
            "container baleia is running, expected exited"
        );
        assert_eq!(
            said(judge_container(&ctr(None, Some(137)), Some(&running))),
            "container baleia is running, expected it to have exited with code 137"
        );
        assert_eq!(
            judge_container(&ctr(Some("exited"), Some(137)), Some(&killed)),
            Ok(())
        );
        assert_eq!(
            said(judge_container(&ctr(None, Some(0)), Some(&killed))),
            "container baleia exited with code 137, expected 0"
        );
        assert_eq!(
            said(judge_container(&ctr(Some("removed"), None), Some(&killed))),
            "container baleia is exited, expected removed"
        );
        assert_eq!(judge_container(&ctr(Some("removed"), None), None), Ok(()));
        assert_eq!(
            said(judge_container(&ctr(Some("running"), None), None)),
            "container baleia does not exist, expected running"
        );
        assert_eq!(
            said(judge_container(&ctr(None, None), None)),
            "container baleia does not exist"
        );
    }

    #[test]
    fn image_failures_count_layers() {
        let img = |present, layers| ImageCheck {
            name: "debian".into(),
            present,
            layers,
        };
        let two = json!({"RootFS": {"Type": "layers", "Layers": ["sha256:a", "sha256:b"]}});
        assert_eq!(judge_image(&img(true, Some(2)), Some(&two)), Ok(()));
        assert_eq!(
            said(judge_image(&img(true, Some(1)), Some(&two))),
            "image debian has 2 layers, expected 1"
        );
        assert_eq!(
            said(judge_image(&img(true, None), None)),
            "image debian is not present"
        );
        assert_eq!(
            said(judge_image(&img(false, None), Some(&two))),
            "image debian is present, expected absent"
        );
        assert_eq!(judge_image(&img(false, Some(3)), None), Ok(()));
    }
}
