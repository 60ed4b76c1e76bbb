//! The `docker` a lab talks to: the built-in engine (a `docker` symlink to `baleia` put first in the
//! terminals' PATH) or any docker-compatible CLI (`--docker PATH`: a real Docker, podman). Everything
//! the runner reads about containers, images and networks goes through `inspect`, so observations
//! and checks work the same on both.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// What `inspect` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `docker container inspect`.
    Container,
    /// `docker image inspect`.
    Image,
    /// `docker network inspect`.
    Network,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
        }
    }
}

/// A failure to run or read the backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("`docker {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// Its output was not the JSON expected.
    #[error("`docker {args}` printed something that is not JSON: {source}")]
    Json {
        /// The arguments.
        args: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Making the PATH shim failed.
    #[error("making the docker shim in {dir}: {source}")]
    Shim {
        /// Its folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The docker CLI of a lab, with the environment its commands run in.
#[derive(Debug, Clone)]
pub struct Backend {
    docker: PathBuf,
    shim_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    builtin: bool,
}

impl Backend {
    /// The built-in engine: `baleia` (with `env`, e.g. `BALEIA_ROOT`), reachable as `docker`
    /// through a symlink in `shim_dir` (created if missing).
    pub fn builtin(
        baleia: &Path,
        shim_dir: &Path,
        env: Vec<(String, String)>,
    ) -> Result<Backend, BackendError> {
        let shim = |source| BackendError::Shim {
            dir: shim_dir.into(),
            source,
        };
        std::fs::create_dir_all(shim_dir).map_err(shim)?;
        let link = shim_dir.join("docker");
        if std::fs::read_link(&link).ok().as_deref() != Some(baleia) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(baleia, &link).map_err(shim)?;
        }
        Ok(Backend {
            docker: link,
            shim_dir: Some(shim_dir.into()),
            env,
            builtin: true,
        })
    }

    /// Any docker-compatible CLI at `docker`, with the client settings of our environment
    /// (`DOCKER_HOST`, `DOCKER_CONFIG`, TLS) passed to the lab's shells too.
    pub fn external(docker: &Path) -> Backend {
        let env = [
            "DOCKER_HOST",
            "DOCKER_CONFIG",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
        Backend {
            docker: docker.into(),
            shim_dir: docker.parent().map(Path::to_path_buf),
            env,
            builtin: false,
        }
    }

    /// This backend with `key=value` in its environment (replacing an earlier value).
    pub fn with_env(mut self, key: &str, value: &str) -> Backend {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// Whether this is the built-in engine.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The `docker` program.
    pub fn program(&self) -> &Path {
        &self.docker
    }

    /// Variables the lab's shells and commands get (the engine's root and config).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `PATH` for the lab's shells: the shim's folder first, so `docker` is this backend.
    pub fn path_var(&self) -> OsString {
        let mut dirs: Vec<PathBuf> = self.shim_dir.iter().cloned().collect();
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// A `docker` command with the lab's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.docker);
        c.args(args).stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Run `docker args`, whatever its status.
    pub fn output(&self, args: &[&str]) -> Result<Output, BackendError> {
        self.command(args)
            .output()
            .map_err(|source| BackendError::Spawn {
                program: self.docker.clone(),
                source,
            })
    }

    /// Run `docker args`; its stdout, or its complaint.
    pub fn ok(&self, args: &[&str]) -> Result<String, BackendError> {
        let o = self.output(args)?;
        if !o.status.success() {
            return Err(BackendError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// `docker KIND inspect NAME`: the object, or `None` when there is no such object.
    pub fn inspect(&self, kind: Kind, name: &str) -> Result<Option<Value>, BackendError> {
        let args = [kind.word(), "inspect", name];
        let o = self.output(&args)?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
            if err.contains("no such") || err.contains("not found") {
                return Ok(None);
            }
            return Err(BackendError::Failed {
                args: args.join(" "),
                stderr: err.trim().to_string(),
            });
        }
        let v: Value = serde_json::from_slice(&o.stdout).map_err(|source| BackendError::Json {
            args: args.join(" "),
            source,
        })?;
        Ok(v.as_array().and_then(|a| a.first()).cloned())
    }

    /// The engine's state root (`docker info`'s `DockerRootDir`), where `files` paths start.
    pub fn root_dir(&self) -> Result<PathBuf, BackendError> {
        let out = self.ok(&["info", "--format", "{{.DockerRootDir}}"])?;
        Ok(PathBuf::from(out.trim()))
    }
}
