//! The simulated Mesh: one Consul agent per node, each on its own loopback listener (threads
//! of this process, not processes), started and stopped from that node's files under its root,
//! with raft voters, TLS trust, a keyring per node and graceful leave (docs/carbonio-mesh.md,
//! "The simulated Mesh", names each rule's source). A control listener lets the stand-ins
//! (`systemctl`, `service-discover`) start and stop the agent of the node whose root they run
//! under.

mod endpoints;
pub mod files;
mod state;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tiny_http::{Request, Response, Server};

use crate::model::Cluster;
use crate::server::{break_connection, respond, Decoded};

pub use endpoints::After;
pub use state::{Agent, MeshState};

const WORKERS: usize = 2;

/// A loopback HTTP listener and its worker threads; closing it refuses connections, as a
/// stopped agent's port does.
struct Listener {
    server: Arc<Server>,
}

impl Listener {
    fn bind(
        addr: &str,
        serve: impl Fn(Request) + Send + Sync + 'static,
    ) -> io::Result<(Listener, SocketAddr)> {
        // A port just closed may take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(3);
        let server = loop {
            match Server::http(addr) {
                Ok(server) => break Arc::new(server),
                Err(e) if Instant::now() >= deadline => return Err(io::Error::other(e)),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let serve = Arc::new(serve);
        for _ in 0..WORKERS {
            let (server, serve) = (server.clone(), serve.clone());
            thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    serve(request);
                }
            });
        }
        Ok((Listener { server }, bound))
    }

    /// The workers end after the request they serve; the socket closes with the last of them.
    fn close(self) {
        for _ in 0..WORKERS {
            self.server.unblock();
        }
    }

    /// [`Listener::close`], returning once the port refuses connections (not from one of its
    /// own workers, which hold it open until they return).
    fn close_and_wait(self) {
        let addr = self.server.server_addr().to_ip();
        self.close();
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Some(addr) = addr {
            if std::net::TcpStream::connect(addr).is_err() || Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

type Log = BTreeMap<String, Vec<(String, Option<String>)>>;

struct Shared {
    state: Mutex<MeshState>,
    /// Each node's address (kept across restarts) and its listener while its agent runs.
    listeners: Mutex<BTreeMap<String, (SocketAddr, Option<Listener>)>>,
    log: Mutex<Log>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulated Mesh. Dropping it closes every listener.
pub struct Mesh {
    shared: Arc<Shared>,
    control: Option<Listener>,
    control_addr: SocketAddr,
}

impl Mesh {
    /// Serves `cluster`'s nodes, each from its root in `roots` (every node needs one); the
    /// agents of the nodes whose root holds main.json start, in the model's order.
    pub fn start(cluster: Cluster, roots: &BTreeMap<String, PathBuf>) -> io::Result<Mesh> {
        let mut agents = BTreeMap::new();
        for node in &cluster.nodes {
            let root = roots.get(&node.name).ok_or_else(|| {
                io::Error::other(format!("no root for {} in the simulated Mesh", node.name))
            })?;
            agents.insert(
                node.name.clone(),
                Agent {
                    root: root.clone(),
                    running: false,
                    left: false,
                    server: false,
                    ca: String::new(),
                    ring: Vec::new(),
                    raft: None,
                    saw_leader: false,
                    log: Vec::new(),
                },
            );
        }
        let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(MeshState {
                cluster,
                agents,
                leader: None,
                policies: Vec::new(),
            }),
            listeners: Mutex::new(BTreeMap::new()),
            log: Mutex::new(BTreeMap::new()),
        });
        for name in &names {
            let (listener, addr) = agent_listener(&shared, name, "127.0.0.1:0")?;
            lock(&shared.listeners).insert(name.clone(), (addr, Some(listener)));
        }
        let weak = Arc::downgrade(&shared);
        let (control, control_addr) = Listener::bind("127.0.0.1:0", move |request| {
            if let Some(shared) = weak.upgrade() {
                control(&shared, request);
            }
        })?;
        let mesh = Mesh {
            shared,
            control: Some(control),
            control_addr,
        };
        for name in &names {
            let starts = roots[name].join(files::MAIN_JSON).exists();
            if !starts || mesh.start_agent(name).is_err() {
                close_listener(&mesh.shared, name, true);
            }
        }
        Ok(mesh)
    }

    /// `http://127.0.0.1:PORT` of `node`'s agent (its CONSUL_HTTP_ADDR).
    pub fn url(&self, node: &str) -> String {
        let listeners = lock(&self.shared.listeners);
        let (addr, _) = listeners
            .get(node)
            .unwrap_or_else(|| panic!("no node {node} in the simulated Mesh"));
        format!("http://{addr}")
    }

    /// Where the stand-ins start and stop agents (`CONSUL_DOUBLE_CONTROL`).
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr)
    }

    /// Starts `node`'s agent from its files; the reason it does not start otherwise.
    pub fn start_agent(&self, node: &str) -> Result<(), String> {
        start(&self.shared, node)
    }

    /// Stops `node`'s agent (as `systemctl stop`: no graceful leave for a server).
    pub fn stop_agent(&self, node: &str) {
        lock(&self.shared.state).stop(node);
        close_listener(&self.shared, node, true);
    }

    /// The model, to read or change (call [`MeshState::settle`] after a change).
    pub fn state(&self) -> MutexGuard<'_, MeshState> {
        lock(&self.shared.state)
    }

    /// Every request `node`'s agent received, as `METHOD /path?query`.
    pub fn requests(&self, node: &str) -> Vec<String> {
        lock(&self.shared.log)
            .get(node)
            .map(|lines| lines.iter().map(|(line, _)| line.clone()).collect())
            .unwrap_or_default()
    }

    /// The node whose root is `root`.
    pub fn node_of_root(&self, root: &Path) -> Option<String> {
        node_of_root(&self.shared, root)
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if let Some(control) = self.control.take() {
            control.close();
        }
        let listeners = std::mem::take(&mut *lock(&self.shared.listeners));
        for (_, (_, listener)) in listeners {
            if let Some(listener) = listener {
                listener.close();
            }
        }
    }
}

fn node_of_root(shared: &Shared, root: &Path) -> Option<String> {
    let state = lock(&shared.state);
    state
        .agents
        .iter()
        .find(|(_, a)| a.root == root)
        .map(|(name, _)| name.clone())
}

fn agent_listener(
    shared: &Arc<Shared>,
    node: &str,
    addr: &str,
) -> io::Result<(Listener, SocketAddr)> {
    let weak = Arc::downgrade(shared);
    let name = node.to_owned();
    Listener::bind(addr, move |request| {
        if let Some(shared) = weak.upgrade() {
            serve(&shared, &name, request);
        }
    })
}

fn start(shared: &Arc<Shared>, node: &str) -> Result<(), String> {
    lock(&shared.state).start(node)?;
    let mut listeners = lock(&shared.listeners);
    let (addr, listener) = listeners
        .get_mut(node)
        .ok_or_else(|| format!("no node {node}"))?;
    if listener.is_none() {
        let (bound, _) = agent_listener(shared, node, &addr.to_string())
            .map_err(|e| format!("cannot listen on {addr} again: {e}"))?;
        *listener = Some(bound);
    }
    Ok(())
}

/// Closes `node`'s listener; `wait`: until its port refuses connections.
fn close_listener(shared: &Shared, node: &str, wait: bool) {
    let listener = lock(&shared.listeners)
        .get_mut(node)
        .and_then(|(_, l)| l.take());
    match listener {
        Some(listener) if wait => listener.close_and_wait(),
        Some(listener) => listener.close(),
        None => {}
    }
}

fn serve(shared: &Shared, node: &str, mut request: Request) {
    let decoded = Decoded::read(&mut request);
    lock(&shared.log)
        .entry(node.to_owned())
        .or_default()
        .push((decoded.line(), decoded.token.clone()));
    let mut state = lock(&shared.state);
    if !state.running(node) {
        drop(state);
        break_connection(request);
        return;
    }
    let (answer, after) = endpoints::answer(&mut state, node, &decoded.call());
    respond(&state.cluster, &decoded.query, request, answer);
    drop(state);
    if after == After::Close {
        close_listener(shared, node, false);
    }
}

/// `POST /start|stop|restart|leave?root=ROOT`, `GET /is-active?root=ROOT`: what the stand-ins
/// ask for the node whose root they run under.
fn control(shared: &Arc<Shared>, mut request: Request) {
    let decoded = Decoded::read(&mut request);
    let root = decoded
        .query
        .get("root")
        .map(PathBuf::from)
        .unwrap_or_default();
    let reply = |request: Request, status: u16, text: String| {
        let _ = request.respond(Response::from_string(text).with_status_code(status));
    };
    let Some(node) = node_of_root(shared, &root) else {
        return reply(
            request,
            404,
            format!(
                "no node of the simulated Mesh has the root {}",
                root.display()
            ),
        );
    };
    let verb = decoded
        .segments
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let outcome = match verb {
        "start" => start(shared, &node),
        "stop" => {
            lock(&shared.state).stop(&node);
            close_listener(shared, &node, true);
            Ok(())
        }
        "restart" => {
            lock(&shared.state).stop(&node);
            close_listener(shared, &node, true);
            start(shared, &node)
        }
        "is-active" => {
            let active = lock(&shared.state).running(&node);
            let text = if active { "active" } else { "inactive" };
            return reply(request, 200, text.to_owned());
        }
        other => Err(format!("unknown control {other}")),
    };
    match outcome {
        Ok(()) => reply(request, 200, node),
        Err(why) => reply(request, 500, why),
    }
}
