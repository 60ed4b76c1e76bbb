//! The container store: `containers/<id>/` folders, name and ID resolution, atomic state writes,
//! and reconciliation of containers whose monitor is gone.

use std::fs;

use chrono::Utc;

use super::model::{Container, HostConfig};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::image::repositories::write_replace;

impl Engine {
    /// Every container, oldest first, with state reconciled against what still runs.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let Ok(rd) = fs::read_dir(self.paths.containers_dir()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.len() == 64 {
                if let Some(c) = self.load_container(&id)? {
                    out.push(self.reconcile(c)?);
                }
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// Read one container's record, if it exists.
    pub fn load_container(&self, id: &str) -> Result<Option<Container>> {
        let p = self.paths.container(id).join("config.v2.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| Error::Json {
                    what: p.display().to_string(),
                    source,
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(p),
        }
    }

    /// Read a container's host config.
    pub fn host_config(&self, id: &str) -> Result<HostConfig> {
        let p = self.paths.container(id).join("hostconfig.json");
        let b = fs::read(&p).at(&p)?;
        serde_json::from_slice(&b).map_err(|source| Error::Json {
            what: p.display().to_string(),
            source,
        })
    }

    /// Write a container's record atomically.
    pub fn save_container(&self, c: &Container) -> Result<()> {
        let p = self.paths.container(&c.id).join("config.v2.json");
        write_replace(
            &p,
            &serde_json::to_vec(c).expect("container serializes"),
            false,
        )
    }

    /// Write a container's host config atomically.
    pub fn save_host_config(&self, id: &str, h: &HostConfig) -> Result<()> {
        let p = self.paths.container(id).join("hostconfig.json");
        write_replace(
            &p,
            &serde_json::to_vec(h).expect("host config serializes"),
            false,
        )
    }

    /// Find a container by name (with or without `/`), full ID, or unique ID prefix.
    pub fn resolve_container(&self, name: &str) -> Result<Container> {
        let all = self.containers()?;
        let bare = name.trim_start_matches('/');
        if let Some(c) = all.iter().find(|c| c.id == name || c.bare_name() == bare) {
            return Ok(c.clone());
        }
        let prefixed: Vec<&Container> = all
            .iter()
            .filter(|c| !name.is_empty() && c.id.starts_with(name))
            .collect();
        match prefixed.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchContainer(name.to_string())),
            _ => Err(Error::Runtime(format!(
                "multiple IDs found with provided prefix: {name}"
            ))),
        }
    }

    /// The container using a name, if any.
    pub fn container_named(&self, name: &str) -> Result<Option<Container>> {
        let bare = name.trim_start_matches('/');
        Ok(self
            .containers()?
            .into_iter()
            .find(|c| c.bare_name() == bare))
    }

    /// If the record says running but its monitor is gone (killed, or the machine rebooted), the
    /// container is dead: clean its mount, cgroup and socket, and record it as exited.
    pub fn reconcile(&self, mut c: Container) -> Result<Container> {
        if !c.state.running || monitor_alive(c.state.monitor_pid, &c.id) {
            return Ok(c);
        }
        // PID 1 has the monitor's death as its own (PR_SET_PDEATHSIG): the kernel killed it already.
        self.release_runtime(&c.id)?;
        c.network_settings.clear_runtime();
        c.state.running = false;
        c.state.status = "exited".into();
        c.state.pid = 0;
        c.state.monitor_pid = 0;
        c.state.exit_code = 137;
        c.state.error = "its monitor process died".into();
        c.state.finished_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.save_container(&c)?;
        Ok(c)
    }

    /// Undo what a running container holds on the host: its networking, the overlay mount, the
    /// cgroup, the socket.
    pub fn release_runtime(&self, id: &str) -> Result<()> {
        let network = super::network::release(self, id);
        super::rootfs::unmount(&self.paths.overlay_layer(id).join("merged"))?;
        super::resources::remove_cgroup(id);
        let _ = fs::remove_file(self.paths.attach_socket(id));
        // The root's runtime folder goes with its last socket (a non-empty one stays).
        let _ = fs::remove_dir(self.paths.runtime());
        network
    }

    /// Remove a container's folder and its layer (caller made sure it is not running).
    pub fn delete_container_files(&self, id: &str) -> Result<()> {
        self.release_runtime(id)?;
        let layer = self.paths.overlay_layer(id);
        if layer.exists() {
            fs::remove_dir_all(&layer).at(&layer)?;
        }
        let dir = self.paths.container(id);
        if dir.exists() {
            fs::remove_dir_all(&dir).at(&dir)?;
        }
        Ok(())
    }
}

/// Whether `pid` is a live baleia monitor of container `id`.
pub fn monitor_alive(pid: i32, id: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => {
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("__monitor") && cmd.contains(id)
        }
        Err(_) => false,
    }
}
