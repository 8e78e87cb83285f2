//! Helpers shared by the double's fixture tests: raw HTTP requests (so headers and bytes are
//! seen as sent) and the recorded files of each version.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use consul_double::Double;
use serde_json::Value;

pub const TOKEN: &str = "260570b8-e9af-05cf-9513-c03866285b98";

/// The fixture directory these tests read: `tests/fixtures/consul/<version>`.
pub struct Fixtures(pub &'static str);

impl Fixtures {
    pub fn read(&self, name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/consul")
            .join(self.0)
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn text(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).unwrap()
    }

    pub fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&self.read(name)).unwrap()
    }

    /// `reply`'s body is the file, byte for byte.
    pub fn assert_same_bytes(&self, reply: &Reply, file: &str) {
        assert_eq!(reply.text(), self.text(file), "{}/{file}", self.0);
    }

    /// An error answer: its status, Go's sniffed text content type, and the file's exact bytes.
    pub fn assert_error(&self, reply: Reply, status: u16, file: &str) {
        assert_eq!(reply.status, status, "{file}: {}", reply.text());
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/plain; charset=utf-8"),
            "{file}"
        );
        self.assert_same_bytes(&reply, file);
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub fn request(double: &Double, method: &str, target: &str, token: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(double.addr()).unwrap();
    let token = token
        .map(|t| format!("X-Consul-Token: {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {target} HTTP/1.0\r\nHost: consul\r\n{token}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = status_code(lines.next().unwrap());
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

pub fn get(double: &Double, target: &str) -> Reply {
    request(double, "GET", target, Some(TOKEN))
}

pub fn sorted_by_name(json: &[u8]) -> Vec<Value> {
    let mut members: Vec<Value> = serde_json::from_slice(json).unwrap();
    members.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    members
}

/// The status of an HTTP status line (`HTTP/1.1 403 Forbidden` -> 403).
pub fn status_code(line: &str) -> u16 {
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// `/v1/catalog/services` with each service's tags sorted: Consul de-duplicates them through a
/// Go map, so their order is random.
pub fn tag_sets(json: &[u8]) -> serde_json::Map<String, Value> {
    let mut services: serde_json::Map<String, Value> = serde_json::from_slice(json).unwrap();
    for tags in services.values_mut() {
        tags.as_array_mut()
            .unwrap()
            .sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    services
}
