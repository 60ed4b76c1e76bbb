//! `inspect` of a container: Docker's JSON, with the overlay paths and the host PID the notes use
//! (`docker inspect CONTAINER | grep Pid`, then `nsenter -t PID`).

use serde_json::{json, Value};

use super::model::Container;
use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// Docker's inspect object for a container.
    pub fn inspect_container(&self, c: &Container) -> Result<Value> {
        let host = self.host_config(&c.id)?;
        let mut state = serde_json::to_value(&c.state).expect("state serializes");
        if let Some(m) = state.as_object_mut() {
            m.remove("MonitorPid");
        }
        let layer = self.paths.overlay_layer(&c.id);
        let lower = std::fs::read_to_string(layer.join("lower")).unwrap_or_default();
        let lower: Vec<String> = lower
            .split(':')
            .filter(|l| !l.is_empty())
            .map(|l| self.paths.overlay_dir().join(l).display().to_string())
            .collect();
        let mounts: Vec<Value> = host
            .binds
            .iter()
            .filter_map(|b| super::binds::parse(b).ok())
            .map(|b| json!({"Type": "bind", "Source": b.source, "Destination": b.target, "Mode": if b.readonly { "ro" } else { "" }, "RW": !b.readonly, "Propagation": "rprivate"}))
            .collect();
        Ok(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": state,
            "Image": c.image,
            "ResolvConfPath": c.resolv_conf_path,
            "HostnamePath": c.hostname_path,
            "HostsPath": c.hosts_path,
            "LogPath": c.log_path,
            "Name": c.name,
            "RestartCount": c.restart_count,
            "Driver": c.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": null,
            "HostConfig": host,
            "GraphDriver": {
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": layer.join("merged"),
                    "UpperDir": layer.join("diff"),
                    "WorkDir": layer.join("work"),
                },
                "Name": "overlay2",
            },
            "Mounts": mounts,
            "Config": c.config,
            "NetworkSettings": c.network_settings,
        }))
    }
}
