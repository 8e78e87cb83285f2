//! The HTTP side: a loopback server, requests decoded and logged, Consul's headers on every
//! answer (the endpoints are in `routes.rs`).

use std::collections::BTreeMap;
use std::io;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use tiny_http::{Header, Request, Response, Server};

use crate::answer::Answer;
use crate::model::Cluster;
use crate::routes::{route, Call};

/// A running double on loopback. Dropping it stops the server.
pub struct Double {
    addr: SocketAddr,
    state: Arc<Mutex<Cluster>>,
    /// `(METHOD /path?query, X-Consul-Token)` of every request.
    log: Arc<Log>,
    server: Arc<Server>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Double {
    /// Serves `cluster` on `127.0.0.1` at a free port.
    pub fn start(cluster: Cluster) -> io::Result<Double> {
        Double::start_on("127.0.0.1:0", cluster)
    }

    pub fn start_on(listen: &str, cluster: Cluster) -> io::Result<Double> {
        let server = Arc::new(Server::http(listen).map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let state = Arc::new(Mutex::new(cluster));
        let log = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..4)
            .map(|_| {
                let (server, state, log) = (server.clone(), state.clone(), log.clone());
                thread::spawn(move || {
                    while let Ok(request) = server.recv() {
                        serve(&state, &log, request);
                    }
                })
            })
            .collect();
        Ok(Double {
            addr,
            state,
            log,
            server,
            workers,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The model, to inspect or change.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request received so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests_with_tokens()
            .into_iter()
            .map(|(line, _)| line)
            .collect()
    }

    /// Every request received so far, with the token it carried (header or `?token=`).
    pub fn requests_with_tokens(&self) -> Vec<(String, Option<String>)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.server.unblock();
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Log = Mutex<Vec<(String, Option<String>)>>;

/// One request, read and decoded (the token from the header or `?token=`).
pub(crate) struct Decoded {
    pub method: tiny_http::Method,
    pub target: String,
    pub token: Option<String>,
    pub query: BTreeMap<String, String>,
    pub segments: Vec<String>,
    pub body: String,
}

impl Decoded {
    pub fn read(request: &mut Request) -> Decoded {
        let mut body = String::new();
        let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
        let method = request.method().clone();
        let target = request.url().to_owned();
        let token = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("X-Consul-Token"))
            .map(|h| h.value.as_str().to_owned());
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        let query: BTreeMap<String, String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let token = token.or_else(|| query.get("token").cloned());
        let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
        Decoded {
            method,
            target,
            token,
            query,
            segments,
            body,
        }
    }

    pub fn call(&self) -> Call<'_> {
        Call {
            method: &self.method,
            parts: self.segments.iter().map(String::as_str).collect(),
            query: &self.query,
            token: self.token.as_deref(),
            body: &self.body,
        }
    }

    /// `METHOD /path?query`, as the request logs keep it.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

/// "Consul went down mid-way": the connection breaks instead of an answer.
pub(crate) fn break_connection(request: Request) {
    let mut writer = request.into_writer();
    let _ = writer.write_all(b"\x00 connection lost\r\n\r\n");
    let _ = writer.flush();
}

fn serve(state: &Mutex<Cluster>, log: &Log, mut request: Request) {
    let decoded = Decoded::read(&mut request);
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((decoded.line(), decoded.token.clone()));
    // Requests are served one at a time under the lock: the double is for correctness, and
    // mutations (bootstrap, later force-leave) must be atomic.
    let mut cluster = state.lock().unwrap_or_else(|e| e.into_inner());
    match &mut cluster.answers_left {
        Some(0) => {
            drop(cluster);
            break_connection(request);
            return;
        }
        Some(left) => *left -= 1,
        None => {}
    }
    let answer = route(&mut cluster, &decoded.call());
    respond(&cluster, &decoded.query, request, answer);
}

pub(crate) fn respond(
    cluster: &Cluster,
    query: &BTreeMap<String, String>,
    request: Request,
    answer: Answer,
) {
    let has_body = !answer.body.is_empty();
    let mut response = Response::from_data(answer.body).with_status_code(answer.status);
    let mut add = |name: &str, value: &str| {
        response.add_header(
            Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header"),
        );
    };
    // Error texts are typed text/plain by Go's sniffing (explicitly from 1.20); an empty body
    // has nothing to sniff.
    if answer.json {
        add("Content-Type", "application/json");
    } else if answer.status != 200 && has_body {
        add("Content-Type", "text/plain; charset=utf-8");
    }
    add("Vary", "Accept-Encoding");
    add(
        "X-Consul-Default-Acl-Policy",
        if cluster.acl_enabled { "deny" } else { "allow" },
    );
    if answer.blocking {
        add("X-Consul-Index", &cluster.catalog_index.max(1).to_string());
        add(
            "X-Consul-Knownleader",
            if cluster.leader.is_some() {
                "true"
            } else {
                "false"
            },
        );
        add("X-Consul-Lastcontact", "0");
        let consistency = if query.contains_key("stale") {
            "stale"
        } else {
            "leader"
        };
        add("X-Consul-Effective-Consistency", consistency);
    }
    if let Some(allow) = answer.allow {
        add("Allow", allow);
    }
    let _ = request.respond(response);
}
