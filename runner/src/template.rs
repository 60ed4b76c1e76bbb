//! Templates in lab strings (minijinja): the engine's state as the step runs —
//! `{{ container("conteiner1").ip }}`, `{{ network("neotech").bridge }}`,
//! `{{ container("baleia").pid }}`, `{{ client("outside").host_ip }}`, the stand-in Docker Hub's
//! `{{ hub }}` — and earlier steps' output, `{{ steps.ping.output }}`. Everything is read through the backend, so it is the same
//! for the built-in engine and a real Docker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use serde_json::{json, Value as Json};

use crate::backend::{Backend, Kind};

/// A lab client's addresses, for `client(name)`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClientFacts {
    /// The client's name in the lab.
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// Its address.
    pub ip: String,
    /// The host's address on its link (what it connects to).
    pub host_ip: String,
}

/// What templates can read: the backend, the lab's clients, the steps done so far.
#[derive(Clone)]
pub struct Facts {
    backend: Backend,
    clients: Arc<Mutex<BTreeMap<String, ClientFacts>>>,
    steps: Arc<Mutex<BTreeMap<String, Json>>>,
    hub: Arc<Mutex<Option<String>>>,
}

/// A template that cannot be rendered: which text, and why.
#[derive(Debug, thiserror::Error)]
#[error("template {text:?}: {message}")]
pub struct TemplateError {
    /// The text.
    pub text: String,
    /// What went wrong.
    pub message: String,
}

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `docker inspect`'s facts of a container in the shape labs use.
pub fn container_facts(v: &Json) -> Json {
    let networks: serde_json::Map<String, Json> = v["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| {
            (
                k.clone(),
                json!({"ip": n["IPAddress"], "gateway": n["Gateway"], "mac": n["MacAddress"]}),
            )
        })
        .collect();
    let first = networks.values().next().cloned().unwrap_or(Json::Null);
    let ip = v["NetworkSettings"]["IPAddress"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(Json::from)
        .unwrap_or_else(|| first["ip"].clone());
    let gateway = v["NetworkSettings"]["Gateway"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(Json::from)
        .unwrap_or_else(|| first["gateway"].clone());
    json!({
        "id": v["Id"], "short_id": v["Id"].as_str().map(|s| &s[..s.len().min(12)]),
        "name": v["Name"].as_str().map(|n| n.trim_start_matches('/')),
        "pid": v["State"]["Pid"], "state": v["State"]["Status"], "exit_code": v["State"]["ExitCode"],
        "ip": ip, "gateway": gateway, "networks": networks, "image": v["Config"]["Image"],
    })
}

/// `docker network inspect`'s facts in the shape labs use; `bridge` is the Linux bridge's name.
pub fn network_facts(v: &Json) -> Json {
    let id = v["Id"].as_str().unwrap_or_default();
    let bridge = v["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("br-{}", &id[..id.len().min(12)]));
    let config = &v["IPAM"]["Config"][0];
    json!({
        "id": id, "name": v["Name"], "driver": v["Driver"], "bridge": bridge,
        "subnet": config["Subnet"], "gateway": config["Gateway"],
    })
}

impl Facts {
    /// Facts read through `backend`.
    pub fn new(backend: Backend) -> Facts {
        Facts {
            backend,
            clients: Arc::default(),
            steps: Arc::default(),
            hub: Arc::default(),
        }
    }

    /// Make the stand-in Docker Hub's `127.0.0.1:PORT` known to templates as `hub`.
    pub fn set_hub(&self, host: &str) {
        *self.hub.lock().expect("hub") = Some(host.into());
    }

    /// Make a client's addresses known to templates.
    pub fn add_client(&self, c: ClientFacts) {
        self.clients
            .lock()
            .expect("clients")
            .insert(c.name.clone(), c);
    }

    /// Record a finished step's output and exit status under its `id`.
    pub fn add_step(&self, id: &str, output: &str, exit: Option<i32>) {
        self.steps
            .lock()
            .expect("steps")
            .insert(id.into(), json!({"output": output, "exit": exit}));
    }

    fn environment(&self) -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let b = self.backend.clone();
        env.add_function("container", move |name: String| -> Result<Value, Error> {
            let v = b
                .inspect(Kind::Container, &name)
                .map_err(|e| fail(e.to_string()))?
                .ok_or_else(|| fail(format!("no container {name:?}")))?;
            Ok(Value::from(minijinja::value::Serde(container_facts(&v))))
        });
        let b = self.backend.clone();
        env.add_function("network", move |name: String| -> Result<Value, Error> {
            let v = b
                .inspect(Kind::Network, &name)
                .map_err(|e| fail(e.to_string()))?
                .ok_or_else(|| fail(format!("no network {name:?}")))?;
            Ok(Value::from(minijinja::value::Serde(network_facts(&v))))
        });
        let b = self.backend.clone();
        env.add_function("image", move |name: String| -> Result<Value, Error> {
            let v = b
                .inspect(Kind::Image, &name)
                .map_err(|e| fail(e.to_string()))?
                .ok_or_else(|| fail(format!("no image {name:?}")))?;
            let layers = v["RootFS"]["Layers"].as_array().map(Vec::len).unwrap_or(0);
            Ok(Value::from(minijinja::value::Serde(
                json!({"id": v["Id"], "layers": layers}),
            )))
        });
        let clients = Arc::clone(&self.clients);
        env.add_function("client", move |name: String| -> Result<Value, Error> {
            let c = clients.lock().expect("clients").get(&name).cloned();
            c.map(|c| Value::from(minijinja::value::Serde(&c)))
                .ok_or_else(|| fail(format!("no client {name:?} in this lab")))
        });
        env
    }

    /// Render `text` (unchanged when it holds no template).
    pub fn render(&self, text: &str) -> Result<String, TemplateError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_string());
        }
        let env = self.environment();
        let steps = self.steps.lock().expect("steps").clone();
        let hub = self.hub.lock().expect("hub").clone();
        let mut ctx = minijinja::context! { steps => Value::from(minijinja::value::Serde(steps)) };
        if let Some(h) = hub {
            ctx = minijinja::context! { hub => h, ..ctx };
        }
        env.render_str(text, ctx).map_err(|e| TemplateError {
            text: text.to_string(),
            message: e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_facts_take_the_shape_labs_use() {
        let c = container_facts(&json!({
            "Id": "0123456789abcdef", "Name": "/baleia", "State": {"Pid": 42, "Status": "running", "ExitCode": 0},
            "NetworkSettings": {"IPAddress": "", "Networks": {"neotech": {"IPAddress": "172.18.0.2", "Gateway": "172.18.0.1"}}},
        }));
        assert_eq!(c["name"], "baleia");
        assert_eq!(c["short_id"], "0123456789ab");
        assert_eq!(c["ip"], "172.18.0.2");
        assert_eq!(c["gateway"], "172.18.0.1");
        assert_eq!(c["networks"]["neotech"]["ip"], "172.18.0.2");
        let n = network_facts(&json!({"Id": "abcdef0123456789", "Name": "neotech",
            "IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}}));
        assert_eq!(n["bridge"], "br-abcdef012345");
        let d = network_facts(
            &json!({"Id": "x", "Options": {"com.docker.network.bridge.name": "baleia0"}}),
        );
        assert_eq!(d["bridge"], "baleia0");
    }

    #[test]
    fn steps_and_clients_render_and_unknowns_fail() {
        let f = Facts::new(Backend::external(std::path::Path::new(
            "/nonexistent/docker",
        )));
        assert_eq!(f.render("plain {text}").unwrap(), "plain {text}");
        f.add_step("ping", "64 bytes from 172.17.0.2\n", Some(0));
        f.add_client(ClientFacts {
            name: "outside".into(),
            netns: "blab-outside".into(),
            ip: "10.215.3.2".into(),
            host_ip: "10.215.3.1".into(),
        });
        assert_eq!(
            f.render("curl http://{{ client('outside').host_ip }}:8080 {{ steps.ping.exit }}")
                .unwrap(),
            "curl http://10.215.3.1:8080 0"
        );
        let e = f.render("{{ steps.nope.output }}").unwrap_err();
        assert!(e.to_string().contains("steps.nope.output"), "{e}");
        assert!(f.render("{{ client('inside').ip }}").is_err());
        assert!(f.render("{{ hub }}").is_err());
        f.set_hub("127.0.0.1:5123");
        assert_eq!(
            f.render("docker search {{ hub }}/deb").unwrap(),
            "docker search 127.0.0.1:5123/deb"
        );
    }
}
