//! The certificates of a node: the CA (`consul-agent-ca.pem`, and the archive's copy) and the
//! node's own certificate, which must be signed by that CA, name this node's role
//! (`server.DC.consul` or `client.DC.consul`, as `consul tls cert create` writes them) and not
//! be expired or about to be.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::{parse_x509_pem, Pem};

/// Warn when a certificate expires within this many seconds (30 days).
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

/// A PEM certificate, parsed on demand (x509-parser borrows from the decoded DER).
pub struct Cert {
    pem: Pem,
}

impl Cert {
    pub fn parse(text: &str, what: &str) -> Result<Cert, String> {
        let (_, pem) = parse_x509_pem(text.as_bytes())
            .map_err(|e| format!("{what} is not a PEM certificate: {e}"))?;
        let cert = Cert { pem };
        cert.x509()
            .map_err(|e| format!("{what} is not an X.509 certificate: {e}"))?;
        Ok(cert)
    }

    fn x509(&self) -> Result<X509Certificate<'_>, String> {
        self.pem.parse_x509().map_err(|e| e.to_string())
    }

    /// The DER bytes: two files hold the same certificate when these are equal.
    pub fn der(&self) -> &[u8] {
        &self.pem.contents
    }

    pub fn expires_in_secs(&self, now: i64) -> i64 {
        self.x509()
            .map(|c| c.validity().not_after.timestamp() - now)
            .unwrap_or(i64::MIN)
    }

    pub fn not_after(&self) -> String {
        self.x509()
            .map(|c| {
                let not_after = c.validity().not_after;
                not_after
                    .to_rfc2822()
                    .unwrap_or_else(|_| not_after.to_string())
            })
            .unwrap_or_default()
    }

    pub fn subject(&self) -> String {
        self.x509()
            .map(|c| c.subject().to_string())
            .unwrap_or_default()
    }

    /// The DNS names the certificate is for: its SAN DNS names and its common names.
    pub fn names(&self) -> Vec<String> {
        let Ok(cert) = self.x509() else {
            return Vec::new();
        };
        let mut names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(dns) = name {
                    if !names.iter().any(|n| n == dns) {
                        names.push((*dns).to_owned());
                    }
                }
            }
        }
        names
    }

    /// Whether `ca` signed this certificate.
    pub fn signed_by(&self, ca: &Cert) -> Result<(), String> {
        let cert = self.x509()?;
        let ca = ca.x509()?;
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|e| format!("its signature does not verify with the CA's key ({e})"))
    }
}

/// The seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How an expiry reads: `in 42 days`, `EXPIRED 3 days ago`.
pub fn expiry_words(secs: i64) -> String {
    if secs < 0 {
        format!("EXPIRED {} days ago", -secs / 86_400)
    } else {
        format!("expires in {} days", secs / 86_400)
    }
}
