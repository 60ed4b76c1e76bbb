//! A container as Docker records it: `config.v2.json` (identity, config, state) and `hostconfig.json`
//! (how it runs). Field names are Docker's, so `inspect -f '{{.State.Pid}}'` reads the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Docker's zero time, for times that have not happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Lifecycle state (`.State`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    /// PID 1 is alive.
    pub running: bool,
    /// Frozen (not used yet).
    pub paused: bool,
    /// Being restarted.
    pub restarting: bool,
    /// The memory cgroup killed a process of it.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Removal failed half-way.
    pub dead: bool,
    /// Host PID of the container's PID 1 (0 when not running).
    pub pid: i32,
    /// Exit code of PID 1 (128+signal when killed).
    pub exit_code: i32,
    /// Why it could not start, if it could not.
    pub error: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Host PID of the monitor that owns it (baleia's, not Docker's).
    #[serde(default)]
    pub monitor_pid: i32,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            monitor_pid: 0,
        }
    }
}

/// What runs and how (`.Config`), merged from the image and the command line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// Host name inside the container (the short ID unless `-h`).
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// `-u`: user[:group] inside the container.
    pub user: String,
    /// `-i` or attached stdin.
    pub attach_stdin: bool,
    /// Attached stdout (not `-d`).
    pub attach_stdout: bool,
    /// Attached stderr (not `-d`).
    pub attach_stderr: bool,
    /// Ports the image exposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `-t`: a terminal.
    pub tty: bool,
    /// `-i`: stdin kept open.
    pub open_stdin: bool,
    /// Close stdin when the attached client detaches.
    pub stdin_once: bool,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Command (after the entrypoint).
    pub cmd: Option<Vec<String>>,
    /// The image as the user named it.
    pub image: String,
    /// Volumes the image declares.
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `-w`: working directory.
    pub working_dir: String,
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Image ONBUILD triggers.
    pub on_build: Option<Vec<String>>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Signal `stop` sends first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// How it runs on the host (`hostconfig.json`, `.HostConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `-v HOST:CONTAINER[:ro]`.
    pub binds: Vec<String>,
    /// `--network`: `bridge` (the default), `host`, `none`, or a user-defined network's name.
    pub network_mode: String,
    /// `-p`: container port (`80/tcp`) → where it is published on the host.
    #[serde(default)]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `-P`: publish every exposed port on a free host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--link NAME[:ALIAS]`, as Docker keeps them: `/conteiner1:/conteiner2/conteiner1`.
    #[serde(default)]
    pub links: Vec<String>,
    /// `--dns`: name servers for this container.
    #[serde(default, rename = "Dns")]
    pub dns: Vec<String>,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--init`.
    pub init: Option<bool>,
    /// `-m`, bytes (0 = unlimited).
    pub memory: i64,
    /// `--memory-swap`, bytes (0 = default, -1 = unlimited).
    pub memory_swap: i64,
    /// `--cpu-shares` (0 = default).
    #[serde(rename = "CpuShares")]
    pub cpu_shares: i64,
    /// `--cpus` × 10⁹.
    #[serde(rename = "NanoCpus")]
    pub nano_cpus: i64,
    /// `--pids-limit` (None or ≤ 0 = unlimited).
    pub pids_limit: Option<i64>,
}

/// One host address a container port is published on (`{"HostIp": "0.0.0.0", "HostPort": "8080"}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// Host address (empty: every address).
    pub host_ip: String,
    /// Host port (empty: a free one, chosen at start).
    pub host_port: String,
}

/// Where a container is on its networks (`.NetworkSettings`), with Docker's field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Unused (Docker's legacy bridge name field).
    pub bridge: String,
    /// The network namespace's ID while running.
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// A path to the network namespace while running (`nsenter --net=…`).
    pub sandbox_key: String,
    /// Published ports while running: `80/tcp` → host bindings (null: exposed only).
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// The default bridge's endpoint (Docker's legacy top-level fields).
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Default bridge gateway.
    pub gateway: String,
    /// Default bridge address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Default bridge prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Default bridge MAC address.
    pub mac_address: String,
    /// Every network it is on, by name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// A container's place on one network (`.NetworkSettings.Networks.NAME`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    /// `--link`s on this network.
    pub links: Option<Vec<String>>,
    /// `--network-alias` names.
    pub aliases: Option<Vec<String>>,
    /// MAC address while running.
    pub mac_address: String,
    /// The network's ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The endpoint's ID while running.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Gateway while running.
    pub gateway: String,
    /// Address while running.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Prefix length while running.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Names it resolves as on a user-defined network.
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
    /// The address asked for (`network connect --ip`), kept for every start.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
}

/// A static address on a network (`.NetworkSettings.Networks.NAME.IPAMConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct EndpointIpamConfig {
    /// The IPv4 address.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
}

impl EndpointSettings {
    /// The static address asked for, if any.
    pub fn static_ip(&self) -> Option<std::net::Ipv4Addr> {
        self.ipam_config.as_ref()?.ipv4_address.parse().ok()
    }
}

/// The record kept in `containers/<id>/config.v2.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    /// 64 hex characters.
    #[serde(rename = "ID")]
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The program PID 1 runs.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Config.
    pub config: Config,
    /// Image ID.
    pub image: String,
    /// `/name`.
    pub name: String,
    /// Storage driver.
    pub driver: String,
    /// State.
    pub state: State,
    /// Times started.
    pub restart_count: i32,
    /// The json-file log.
    pub log_path: String,
    /// `/etc/hostname` source.
    pub hostname_path: String,
    /// `/etc/hosts` source.
    pub hosts_path: String,
    /// `/etc/resolv.conf` source.
    pub resolv_conf_path: String,
    /// Its networks and published ports.
    #[serde(default)]
    pub network_settings: NetworkSettings,
}

impl Container {
    /// The 12-character short ID.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
    /// The name without Docker's leading slash.
    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
    /// PID 1's command line, as `ps` shows it.
    pub fn command_line(&self) -> String {
        // As Docker's daemon lists it: arguments holding a space in single quotes.
        std::iter::once(self.path.clone())
            .chain(self.args.iter().map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// Docker's STATUS column: `Up 2 minutes`, `Exited (0) 34 seconds ago`, `Created`.
    pub fn status_line(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let since = |t: &str| {
            crate::image::parse_time(t)
                .map(|t| crate::format::units::human_duration(now - t))
                .unwrap_or_default()
        };
        match self.state.status.as_str() {
            "running" => format!("Up {}", since(&self.state.started_at)),
            "exited" => format!(
                "Exited ({}) {} ago",
                self.state.exit_code,
                since(&self.state.finished_at)
            ),
            "created" => "Created".into(),
            other => {
                let mut s = other.to_string();
                if let Some(f) = s.get_mut(0..1) {
                    f.make_ascii_uppercase();
                }
                s
            }
        }
    }
}

#[cfg(test)]
impl Container {
    /// A container record for unit tests: ID `c…c`, name `/NAME`, running `path args`.
    pub(crate) fn for_tests(name: &str, path: &str, args: &[&str]) -> Container {
        Container {
            id: "c".repeat(64),
            created: String::new(),
            path: path.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            config: Default::default(),
            image: String::new(),
            name: format!("/{name}"),
            driver: "overlay2".into(),
            state: Default::default(),
            restart_count: 0,
            log_path: String::new(),
            hostname_path: String::new(),
            hosts_path: String::new(),
            resolv_conf_path: String::new(),
            network_settings: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_quotes_arguments_with_spaces_as_docker_lists_them() {
        let c = Container::for_tests("web", "nginx", &["-g", "daemon off;"]);
        assert_eq!(c.command_line(), "nginx -g 'daemon off;'");
    }
}
