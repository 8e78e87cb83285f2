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
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use tiny_http::{Request, Response, Server};

use crate::model::Cluster;
use crate::server::{break_connection, respond, Decoded};

pub use endpoints::After;
pub use state::{Agent, MeshState};

const WORKERS: usize = 2;

/// A loopback HTTP server and its worker threads (tiny_http), for the life of the mesh.
struct Listener {
    server: Arc<Server>,
}

impl Listener {
    fn bind(
        addr: &str,
        serve: impl Fn(Request) + Send + Sync + 'static,
    ) -> io::Result<(Listener, SocketAddr)> {
        let server = Arc::new(Server::http(addr).map_err(io::Error::other)?);
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
}

/// A socket bound to an agent's port for the life of the mesh, never listening: while the agent
/// is stopped, connections to the port are refused (no listener), and no other socket can take
/// the port meanwhile (a closed listener's port was free for any process's next bind or outgoing
/// connection, and a restart then failed with "address in use" one run in a few hundred).
/// The agent's listener shares the port through SO_REUSEPORT.
struct HeldPort {
    _socket: socket2::Socket,
    addr: SocketAddr,
}

impl HeldPort {
    fn hold(addr: SocketAddr) -> io::Result<HeldPort> {
        let socket = reusable_socket()?;
        socket.bind(&addr.into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))?;
        Ok(HeldPort {
            _socket: socket,
            addr,
        })
    }
}

/// A TCP socket that may share its port with the others of this process (SO_REUSEPORT; the
/// kernel gives connections only to the listening ones).
fn reusable_socket() -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    Ok(socket)
}

/// An agent's own port while it runs: each connection relayed to its HTTP server. Closing it
/// refuses new connections and resets the open ones, as a stopped agent's do (a client's
/// pooled keep-alive connection then fails and is replaced, instead of waiting forever).
struct Port {
    addr: SocketAddr,
    closed: Arc<std::sync::atomic::AtomicBool>,
    clients: Arc<Mutex<Vec<TcpStream>>>,
    accepting: Option<thread::JoinHandle<()>>,
}

impl Port {
    fn open(addr: SocketAddr, backend: SocketAddr) -> io::Result<Port> {
        // The port is held (HeldPort): this listener shares it.
        let socket = reusable_socket()?;
        socket.bind(&addr.into())?;
        socket.listen(128)?;
        let listener = TcpListener::from(socket);
        let addr = listener.local_addr()?;
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let (stop, open) = (closed.clone(), clients.clone());
        let accepting = thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(backend) else {
                    continue;
                };
                if let Ok(copy) = client.try_clone() {
                    lock(&open).push(copy);
                }
                relay(client, server);
            }
        });
        Ok(Port {
            addr,
            closed,
            clients,
            accepting: Some(accepting),
        })
    }

    /// Refuses connections from now on (once this returns) and resets the open ones.
    fn close(mut self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop, which then drops the listening socket.
        let _ = TcpStream::connect(self.addr);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        for client in lock(&self.clients).drain(..) {
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Copies both ways between a client and the agent's server until either side closes.
fn relay(client: TcpStream, server: TcpStream) {
    let pairs = [
        (client.try_clone(), server.try_clone()),
        (server.try_clone(), client.try_clone()),
    ];
    for (from, to) in pairs {
        if let (Ok(mut from), Ok(mut to)) = (from, to) {
            thread::spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = from.shutdown(std::net::Shutdown::Both);
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        }
    }
}

struct AgentPorts {
    addr: SocketAddr,
    _held: HeldPort,
    server: Listener,
    backend: SocketAddr,
    port: Option<Port>,
}

type Log = BTreeMap<String, Vec<(String, Option<String>)>>;

struct Shared {
    state: Mutex<MeshState>,
    /// Each node's agent: its address (kept across restarts), its HTTP server, its port while
    /// the agent runs.
    listeners: Mutex<BTreeMap<String, AgentPorts>>,
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
            let (server, backend) = agent_listener(&shared, name, "127.0.0.1:0")?;
            let held = HeldPort::hold("127.0.0.1:0".parse().expect("an address"))?;
            let port = Port::open(held.addr, backend)?;
            let ports = AgentPorts {
                addr: port.addr,
                _held: held,
                server,
                backend,
                port: Some(port),
            };
            lock(&shared.listeners).insert(name.clone(), ports);
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
                close_port(&mesh.shared, name);
            }
        }
        Ok(mesh)
    }

    /// `http://127.0.0.1:PORT` of `node`'s agent (its CONSUL_HTTP_ADDR).
    pub fn url(&self, node: &str) -> String {
        let listeners = lock(&self.shared.listeners);
        let ports = listeners
            .get(node)
            .unwrap_or_else(|| panic!("no node {node} in the simulated Mesh"));
        format!("http://{}", ports.addr)
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
        close_port(&self.shared, node);
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
        for (_, ports) in listeners {
            if let Some(port) = ports.port {
                port.close();
            }
            ports.server.close();
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
    let ports = listeners
        .get_mut(node)
        .ok_or_else(|| format!("no node {node}"))?;
    if ports.port.is_none() {
        let port = Port::open(ports.addr, ports.backend)
            .map_err(|e| format!("cannot listen on {} again: {e}", ports.addr))?;
        ports.port = Some(port);
    }
    Ok(())
}

/// Closes `node`'s port: new connections refused, open ones reset.
fn close_port(shared: &Shared, node: &str) {
    let port = lock(&shared.listeners)
        .get_mut(node)
        .and_then(|ports| ports.port.take());
    if let Some(port) = port {
        port.close();
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
        // After the answer reached the client (the agent leaves, then stops).
        thread::sleep(Duration::from_millis(100));
        close_port(shared, node);
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
            close_port(shared, &node);
            Ok(())
        }
        "restart" => {
            lock(&shared.state).stop(&node);
            close_port(shared, &node);
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
