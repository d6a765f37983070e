//! [`Certificate`]: an application's certificate credential, and the client
//! assertion it signs for each token request (Microsoft identity platform,
//! "certificate credentials"): a JWT signed RS256 with the certificate's
//! private key, its header naming the certificate by `x5t#S256` (the
//! base64url SHA-256 of the certificate's DER), its claims `aud` (the token
//! endpoint), `iss` = `sub` (the client id), a fresh `jti`, and `nbf`,
//! `iat`, `exp` ten minutes apart.
//!
//! The SHA-1 `x5t` is not sent: Entra accepts `x5t#S256`, and SHA-1 is in
//! no crate of this tree. `azure_identity`'s own certificate credential
//! needs OpenSSL (its `client_certificate` feature), which the distroless
//! image does not carry; `jsonwebtoken` and `rsa`, already built for the
//! simulator and the edge, sign here.

use std::{path::Path, time::Duration};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::WorkerError;

/// Largest certificate file read.
const MAX_PEM_BYTES: u64 = 256 * 1024;

/// How long a client assertion is valid.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// A certificate and its private key. No `Debug`: the key must not be
/// printed.
pub struct Certificate {
    key: EncodingKey,
    /// `x5t#S256`.
    thumbprint: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

impl Certificate {
    /// Reads the PEM file at `path`: the certificate (the first
    /// `CERTIFICATE` block) and its RSA private key (`PRIVATE KEY`, PKCS#8,
    /// or `RSA PRIVATE KEY`, PKCS#1; not encrypted).
    pub fn load(path: &Path) -> Result<Self, WorkerError> {
        use std::io::Read;
        let shown = path.display();
        let setup = |why: String| WorkerError::Setup(format!("certificate_path = {shown}: {why}"));
        let file = std::fs::File::open(path).map_err(|e| setup(e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_PEM_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| setup(e.to_string()))?;
        Self::from_pem(&text).map_err(setup)
    }

    /// The certificate and key of the PEM `text`.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        use rsa::{pkcs1::EncodeRsaPrivateKey, pkcs8::DecodePrivateKey};
        let certificate =
            pem_block(text, "CERTIFICATE").ok_or("no -----BEGIN CERTIFICATE----- block")??;
        let key_der = if let Some(pkcs8) = pem_block(text, "PRIVATE KEY") {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8?)
                .map_err(|e| format!("the private key is not an RSA key in PKCS#8: {e}"))?;
            key.to_pkcs1_der()
                .map_err(|e| format!("the private key: {e}"))?
                .as_bytes()
                .to_vec()
        } else if let Some(pkcs1) = pem_block(text, "RSA PRIVATE KEY") {
            pkcs1?
        } else {
            return Err(
                "no unencrypted -----BEGIN PRIVATE KEY----- (or RSA PRIVATE KEY) block; \
                        an encrypted key is not supported"
                    .into(),
            );
        };
        let thumbprint =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&certificate));
        Ok(Self {
            key: EncodingKey::from_rsa_der(&key_der),
            thumbprint,
        })
    }

    /// The certificate's `x5t#S256`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A client assertion for `client_id`, addressed to `audience` (the
    /// token endpoint).
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, WorkerError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = Header::new(Algorithm::RS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
        let claims = Claims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| WorkerError::Token(format!("signing the client assertion: {e}")))
    }
}

/// The DER of the first PEM block labelled `label` in `text`; `None` when
/// there is none.
fn pem_block(text: &str, label: &str) -> Option<Result<Vec<u8>, String>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let Some(length) = text[start..].find(&end) else {
        return Some(Err(format!("{begin} without {end}")));
    };
    let body: String = text[start..start + length]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("the {label} block is not base64: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    /// A self-signed RSA certificate and its key, as one PEM text.
    pub(crate) fn pem() -> String {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["d365mcp.test".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let block = |label: &str, der: &[u8]| {
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                lines.join("\n")
            )
        };
        block("CERTIFICATE", cert.der()) + &block("PRIVATE KEY", &key.serialize_der())
    }

    #[test]
    fn assertions_are_signed_and_name_the_certificate() {
        let text = pem();
        let certificate = Certificate::from_pem(&text).unwrap();
        let der = pem_block(&text, "CERTIFICATE").unwrap().unwrap();
        let expected =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
        assert_eq!(certificate.thumbprint(), expected);
        let audience = "https://login.example/t/oauth2/v2.0/token";
        let jwt = certificate.assertion("client-1", audience).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.x5t_s256.as_deref(), Some(expected.as_str()));
        // Verified with the key's public half.
        let public = {
            use rsa::{pkcs1::EncodeRsaPublicKey, pkcs8::DecodePrivateKey};
            let der = pem_block(&text, "PRIVATE KEY").unwrap().unwrap();
            let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap();
            key.to_public_key().to_pkcs1_der().unwrap()
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&["client-1"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &DecodingKey::from_rsa_der(public.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], audience);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(),
            600
        );
        let second = certificate.assertion("client-1", audience).unwrap();
        assert_ne!(jwt, second, "every assertion has its own jti");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |text: &str| Certificate::from_pem(text).err().unwrap();
        assert!(err("").contains("CERTIFICATE"));
        let text = pem();
        let only_cert = &text[..text.find("-----BEGIN PRIVATE KEY").unwrap()];
        assert!(err(only_cert).contains("PRIVATE KEY"));
        assert!(
            err("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----").contains("base64")
        );
        let missing = Certificate::load(Path::new("/nonexistent/d365mcp.pem"))
            .err()
            .unwrap();
        assert!(
            missing.to_string().contains("certificate_path"),
            "{missing}"
        );
    }
}
