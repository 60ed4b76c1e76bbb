//! `create`: a container record, its folder (hosts files, log) and its thin writable layer, from an
//! image and the command line — PID 1 does not exist yet.

use std::fs;

use chrono::Utc;

use super::model::{Config, Container, HostConfig, State};
use super::rootfs;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::layer::random_hex;
use crate::lock::Mode;
use crate::names;

/// What `create`/`run` are told besides the image.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Image name or ID.
    pub image: String,
    /// `--name`.
    pub name: Option<String>,
    /// Command and arguments after the image.
    pub cmd: Vec<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `-e` and `--env-file` entries.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// Not `-d`: the client attaches.
    pub attach: bool,
    /// How it runs on the host.
    pub host: HostConfig,
}

/// Default PATH when the image sets none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Engine {
    /// Create a container; returns its record.
    pub fn create_container(&self, opts: &CreateOptions) -> Result<Container> {
        if let Some(n) = &opts.name {
            if !names::valid_name(n) {
                return Err(Error::Runtime(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        let image = self.resolve_image(&opts.image)?;
        let img = image.json();
        let icfg = img.get("config").cloned().unwrap_or_default();
        let list = |k: &str| -> Option<Vec<String>> {
            icfg.get(k)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        };
        let text = |k: &str| {
            icfg.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };

        let entrypoint = match &opts.entrypoint {
            Some(e) if e.is_empty() => None,
            Some(e) => Some(vec![e.clone()]),
            None => list("Entrypoint"),
        };
        let cmd = if !opts.cmd.is_empty() {
            Some(opts.cmd.clone())
        } else if opts.entrypoint.is_some() {
            None
        } else {
            list("Cmd")
        };
        let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
        argv.extend(cmd.clone().unwrap_or_default());
        if opts.host.init == Some(true) {
            argv.splice(0..0, ["/sbin/baleia-init".to_string(), "--".to_string()]);
        }
        if argv.is_empty() {
            return Err(Error::Runtime("no command specified".into()));
        }

        let mut env = list("Env").unwrap_or_else(|| vec![DEFAULT_PATH.to_string()]);
        for e in &opts.env {
            let key = e.split('=').next().unwrap_or(e);
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        let id = random_hex(32);
        let config = Config {
            hostname: opts
                .hostname
                .clone()
                .unwrap_or_else(|| id[..12].to_string()),
            user: opts.user.clone().unwrap_or_else(|| text("User")),
            attach_stdin: opts.attach && opts.interactive,
            attach_stdout: opts.attach,
            attach_stderr: opts.attach,
            exposed_ports: icfg
                .get("ExposedPorts")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            tty: opts.tty,
            open_stdin: opts.interactive,
            stdin_once: opts.interactive && opts.attach,
            env,
            cmd,
            image: opts.image.clone(),
            volumes: icfg
                .get("Volumes")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            working_dir: opts.workdir.clone().unwrap_or_else(|| text("WorkingDir")),
            entrypoint,
            on_build: None,
            labels: icfg
                .get("Labels")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            stop_signal: icfg
                .get("StopSignal")
                .and_then(|v| v.as_str())
                .map(String::from),
            ..Default::default()
        };
        let dir = self.paths.container(&id);
        let mut host = opts.host.clone();
        if host.network_mode.is_empty() {
            host.network_mode = "none".into();
        }

        let _lock = self.lock(Mode::Exclusive)?;
        let name = match &opts.name {
            Some(n) => {
                if let Some(other) = self.container_named(n)? {
                    return Err(Error::Conflict(format!(
                        "The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        n.trim_start_matches('/'),
                        other.id
                    )));
                }
                n.trim_start_matches('/').to_string()
            }
            None => {
                let taken: Vec<String> = self
                    .containers()?
                    .iter()
                    .map(|c| c.bare_name().to_string())
                    .collect();
                names::random_name(|n| taken.iter().any(|t| t == n))
            }
        };
        fs::create_dir_all(&dir).at(&dir)?;
        let c = Container {
            id: id.clone(),
            created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            image: image.id.to_string(),
            name: format!("/{name}"),
            driver: "overlay2".into(),
            state: State::default(),
            restart_count: 0,
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
        };
        let made = (|| -> Result<()> {
            fs::write(&c.hostname_path, format!("{}\n", c.config.hostname)).at(&c.hostname_path)?;
            fs::write(&c.hosts_path, hosts_file(&host.network_mode)).at(&c.hosts_path)?;
            fs::write(&c.resolv_conf_path, resolv_conf()).at(&c.resolv_conf_path)?;
            fs::write(&c.log_path, b"").at(&c.log_path)?;
            rootfs::prepare(&self.paths, &id, &self.image_layers(&image)?)?;
            self.save_host_config(&id, &host)?;
            self.save_container(&c)
        })();
        if let Err(e) = made {
            let _ = self.delete_container_files(&id);
            return Err(e);
        }
        Ok(c)
    }
}

/// `/etc/hosts` of a container: the host's with `--network host`, else the loopback names (the
/// container's own address and name are added when it joins a network).
fn hosts_file(network_mode: &str) -> String {
    const LOOPBACK: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
    if network_mode == "host" {
        if let Ok(h) = fs::read_to_string("/etc/hosts") {
            return h;
        }
    }
    LOOPBACK.to_string()
}

/// The host's resolver configuration without loopback name servers (unreachable from a container).
fn resolv_conf() -> String {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    host.lines()
        .filter(|l| !(l.starts_with("nameserver") && (l.contains(" 127.") || l.contains(" ::1"))))
        .map(|l| format!("{l}\n"))
        .collect()
}
