//! What can be learned from the archive's members without using them: the token's public
//! fields, the CA certificate's subject and validity, whether the CA key belongs to it, and
//! whether the gossip key has the right shape. Nothing here returns a secret.

use base64::Engine;
use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::Credentials;
use p256::pkcs8::DecodePrivateKey;
use serde::Serialize;
use x509_parser::pem::parse_x509_pem;

/// The CA certificate, as `show` and `verify` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaInfo {
    pub subject: String,
    pub not_after: String,
    /// Seconds until expiry (negative: expired).
    pub expires_in_secs: i64,
    /// The raw public key (SubjectPublicKeyInfo's bit string), to compare with the key.
    #[serde(skip)]
    pub public_key: Vec<u8>,
}

pub fn ca_info(pem: &str) -> Result<CaInfo, String> {
    let (_, pem) = parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("{} is not a PEM certificate: {e}", mesh::CA_CERT_MEMBER))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("{} is not an X.509 certificate: {e}", mesh::CA_CERT_MEMBER))?;
    let validity = cert.validity();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(CaInfo {
        subject: cert.subject().to_string(),
        not_after: validity
            .not_after
            .to_rfc2822()
            .unwrap_or_else(|_| validity.not_after.to_string()),
        expires_in_secs: validity.not_after.timestamp() - now,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// Whether the CA key is the private half of the certificate's key. `Err` when the key cannot
/// be read (the message never quotes it).
pub fn key_matches(ca: &CaInfo, key_pem: &str) -> Result<bool, String> {
    let key = p256::SecretKey::from_sec1_pem(key_pem)
        .or_else(|_| p256::SecretKey::from_pkcs8_pem(key_pem))
        .map_err(|_| {
            format!(
                "{} is not a P-256 private key in PEM (SEC1 or PKCS#8), the kind Consul's CA uses",
                mesh::CA_KEY_MEMBER
            )
        })?;
    let public = key.public_key();
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&public, false);
    Ok(point.as_bytes() == ca.public_key.as_slice())
}

/// Consul's gossip key: base64 of 32 bytes (16 and 24 are accepted by Consul too).
pub fn gossip_key_bytes(key: &str) -> Result<usize, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim_end())
        .map_err(|_| "the gossip key is not base64".to_owned())?;
    match bytes.len() {
        16 | 24 | 32 => Ok(bytes.len()),
        n => Err(format!(
            "the gossip key is {n} bytes; Consul needs 16, 24 or 32"
        )),
    }
}

/// The bootstrap token's public fields.
pub fn token(credentials: &Credentials) -> Result<BootstrapToken, String> {
    let member = credentials
        .member(mesh::ACL_SECRET_MEMBER)
        .ok_or_else(|| format!("the archive has no member '{}'", mesh::ACL_SECRET_MEMBER))?;
    BootstrapToken::parse(member.content.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 CA made with openssl for these tests only.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUUCI/5Y3prZ5ahIzBfMWCu2lCIjYwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPQ29uc3VsIEFnZW50IENBMB4XDTI2MTEyMzAyNDAwMFoXDTM2
MTEyMDAyNDAwMFowGjEYMBYGA1UEAwwPQ29uc3VsIEFnZW50IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE
";

    #[test]
    fn gossip_keys_are_32_bytes_of_base64() {
        assert_eq!(
            gossip_key_bytes("H5LWbLNvzQy4dZuWpTzP+kgVUTR1D2ccyIe3nuXy1Wo="),
            Ok(32)
        );
        assert!(gossip_key_bytes("not base64!").is_err());
        assert!(gossip_key_bytes("aGVsbG8=")
            .unwrap_err()
            .contains("5 bytes"));
    }

    #[test]
    fn a_broken_certificate_is_an_error_not_a_panic() {
        assert!(ca_info(CA).is_err());
        assert!(ca_info("").is_err());
    }
}
