//! `create`: a container record, its folder (hosts files, log) and its thin writable layer, from an
//! image and the command line — PID 1 does not exist yet.

use std::fs;

use chrono::Utc;

use super::model::{Config, Container, EndpointSettings, HostConfig, NetworkSettings, State};
use super::rootfs;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::layer::random_hex;
use crate::lock::Mode;
use crate::names;

/// What `create`/`run` are told besides the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// `--network-alias`.
    pub network_aliases: Vec<String>,
    /// `--expose`.
    pub expose: Vec<String>,
    /// `--label`: added to the image's labels.
    pub labels: std::collections::BTreeMap<String, String>,
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
            // As Docker: the short ID, or on the host's network the host's own name.
            hostname: opts.hostname.clone().unwrap_or_else(|| {
                let host_name = (opts.host.network_mode == "host")
                    .then(|| nix::unistd::gethostname().ok())
                    .flatten()
                    .and_then(|h| h.into_string().ok());
                host_name.unwrap_or_else(|| id[..12].to_string())
            }),
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
            labels: {
                let mut l: std::collections::BTreeMap<String, String> = icfg
                    .get("Labels")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                l.extend(opts.labels.clone());
                l
            },
            stop_signal: icfg
                .get("StopSignal")
                .and_then(|v| v.as_str())
                .map(String::from),
            ..Default::default()
        };
        let dir = self.paths.container(&id);
        let mut host = opts.host.clone();
        let mut config = config;
        let network_settings = self.plan_networks(&mut host, &mut config, opts)?;

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
        for l in host.links.iter_mut() {
            if let Some((target, alias)) = l.split_once(':') {
                *l = format!("{target}:/{name}/{alias}");
            }
        }
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
            network_settings,
        };
        let made = (|| -> Result<()> {
            fs::write(&c.hostname_path, format!("{}\n", c.config.hostname)).at(&c.hostname_path)?;
            fs::write(&c.hosts_path, hosts_file(&host.network_mode)).at(&c.hosts_path)?;
            fs::write(
                &c.resolv_conf_path,
                super::network::initial_resolv_conf(self, &host),
            )
            .at(&c.resolv_conf_path)?;
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

/// `/etc/hosts` of a container: the host's with `--network host`, else the loopback names (its
/// address and name are added when it starts on a network).
fn hosts_file(network_mode: &str) -> String {
    if network_mode == "host" {
        if let Ok(h) = fs::read_to_string("/etc/hosts") {
            return h;
        }
    }
    super::network::LOOPBACK_HOSTS.to_string()
}

impl Engine {
    /// Check `--network`, `--network-alias`, `-p`, `--expose` and `--link` against what exists, and
    /// plan the container's networks (addresses come at start).
    fn plan_networks(
        &self,
        host: &mut HostConfig,
        config: &mut Config,
        opts: &CreateOptions,
    ) -> Result<NetworkSettings> {
        if host.network_mode.is_empty() || host.network_mode == "default" {
            host.network_mode = "bridge".into();
        }
        let network = self.network(&host.network_mode)?;
        host.network_mode = network.name.clone();
        let bridged = network.driver == "bridge";
        if !opts.network_aliases.is_empty() && (!bridged || network.is_default_bridge()) {
            return Err(Error::Runtime(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if !bridged {
            host.port_bindings.clear();
            host.publish_all_ports = false;
            if !host.links.is_empty() {
                return Err(Error::Runtime(format!(
                    "conflicting options: {} networking can't be used with links. This would result in undefined behavior",
                    network.name
                )));
            }
        }
        let mut links = Vec::new();
        for l in &host.links {
            let (target, alias) = l.split_once(':').unwrap_or((l, l));
            let other = self
                .resolve_container(target)
                .map_err(|_| Error::Runtime(format!("could not get container for {target}")))?;
            // Completed with the container's own name once it has one.
            links.push(format!("{}:{alias}", other.name));
        }
        host.links = links;
        let mut exposed = config.exposed_ports.take().unwrap_or_default();
        let mut extra: Vec<String> = host.port_bindings.keys().cloned().collect();
        for e in &opts.expose {
            let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            let (lo, hi) = crate::network::ports::range(ports)
                .ok_or_else(|| Error::Runtime(format!("invalid range format for --expose: {e}")))?;
            extra.extend((lo..=hi).map(|p| format!("{p}/{proto}")));
        }
        for k in extra {
            exposed.entry(k).or_insert_with(|| serde_json::json!({}));
        }
        config.exposed_ports = (!exposed.is_empty()).then_some(exposed);
        let mut settings = NetworkSettings::default();
        settings.networks.insert(
            network.name.clone(),
            EndpointSettings {
                network_id: network.id.clone(),
                aliases: (!opts.network_aliases.is_empty()).then(|| opts.network_aliases.clone()),
                ..Default::default()
            },
        );
        Ok(settings)
    }
}
