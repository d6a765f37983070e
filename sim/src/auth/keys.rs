//! The simulator's signing key: a fixed RSA key pair, its `kid`, and the
//! JSON Web Key Set Entra publishes at `/{tenant}/discovery/v2.0/keys`.
//!
//! The private key is committed in the source on purpose. The simulator is
//! a test tool: anyone may mint its tokens (tests forge expired or foreign
//! ones with [`keys`]), and a fixed key means a verifier (the
//! edge) can cache the JWKS across simulator restarts. Generating a 2048-bit
//! key at start-up would also take seconds in a debug build. Never trust
//! this key anywhere but in tests.

use std::sync::LazyLock;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

/// The key id in every token header and in the JWKS.
pub const KEY_ID: &str = "d365mcp-sim-rs256-1";

/// The RSA private key (2048 bits): PKCS#1 DER, base64. Public on purpose:
/// see the module documentation.
pub const PRIVATE_KEY_PKCS1_BASE64: &str = concat!(
    "MIIEpQIBAAKCAQEA46wZgNf1h/8Gl8i/zpWrekxvKXBBsYuSuW5qnXsojPIS5jVbIUoGCagc07tR",
    "T0ZC9BAT3DR6ul4/zV94+vGaFkYp2JmKZNOjSdoey1JP5jeV1JneuQ+C04hP6flwWaH93rc7di0/",
    "yWtoQNBAWiN3IQJ2mbbvmbElHAe4GU/0qxGYj1pMwXYh3H0+Tndm5wlRBCjkew5AoJxw+3sFPYcv",
    "pUgzOcyVi08Q9+MULLE+VjvrAN/LM7xka3jaQtLtcYTRkBjT2IKypR6OJfm/TUyz6geB513/Jfby",
    "4SNtLdDBeYoUJwF7iyOh0vdDPk0x8K2Np5gRqDWODtk20JRHY9MOHQIDAQABAoIBAAE9s/cHWufA",
    "HDkvZSSlI0LRyGm4XYBCistxrornsT5SrcR00BhbBncdS8QS74LQisGmle2CaEuFfSR/QcdgNog8",
    "7m8tcPy6wppXN3df4Uxg0WEfM7FopaoznaLCGsCs/jwI16i0ld3a673kzFUAsN5n9O+kCvj6Ee+2",
    "/PYzUCL4GMLag/vUpa+1Z+Z+Ljj5p7X+kaQXdiQXTig3fj6PaG8HAdQFGsScdyLblaeYiev+CIJ3",
    "aC5qOCcoFB9QABb521AiJP6U89vainjHHtmP9ie0iTcvJYLb1ozuJaO/hxhS3+2+zRWQdVtBc8iy",
    "T+oPPM9ya9MxHocC3m/bCHAwWakCgYEA+k0MRBImwnW7rdGYs9DpiGbS86/LFRNtyrjKI4KmZ/PR",
    "OlDDhkQr/lS0tK6GsMmU0H13ZwyFaGwHCdDlAc4deNWYDB1Tt32HVdSnLQ4AVN7jhZ6Sd/j+4BBd",
    "eiGlUV0OhL5MWCpeoqwdIfp704tB7rGDXSHW3A2ccbNCPvmHXM8CgYEA6NsnWezlUcULJLpNxenr",
    "Jm80NtJArtdJkPfeRxvnTVpe8zEwJbsGudp97L1/qcPUZu9M1Rh1gKRwn/J9Zcku+JLUdq1vbt9N",
    "WL8EWjQja3+xAmwpR+fSaghOLKf2n6aAs+MZnqVYgRjT21cQMoTgYoxv3GLi9RFd/jJyplqUWVMC",
    "gYEAxigxScLFBLaIerewmMsP13jwERRfRrQ2+4MIJMzOSQXx4qUF5koaOiN9XH2/DD7KnbR2zxJO",
    "m7jKaa8DXkZ7dqpC0XR2TpIGjqDoKPcotAgxQBumAW0S+vh5yLLSWnO9hsHRVwtUGJ0CA2B2n6dj",
    "70CBqz2bCGOOM0WjcI/D5mkCgYEAqRmlzSc9LZGj0ws8uZJzQ1kUmQ89C/uqIA3xLMC1y7XqKD+7",
    "UFsuuj9SnV7MXBOrpwj3SfVWN5Kze2RU7lsYskmm43x15RVjDSTC22LrqgB0Imc7300ZwAjCBKoB",
    "btUyt/AfRdebmzzVdX8XcyiN7uM/xNNHMGNpV9V47xfujaMCgYEAgm0o7NYlh4++LbsW+pD7xLl6",
    "qZ094MRO84D1cWacDzq7oV1El8q+L8DONOhA10pJZf5n/OK5KTwVwl8F3RXcwif5F+4CylFwoZf2",
    "+9fs72SZCqig++ChBb25jda09pXf35xACRpfW7feTrxUtii6wwq7lv+OLsqURBB71XrC+tU=",
);

/// The modulus of the public key, base64url without padding (JWK `n`).
pub const MODULUS: &str = concat!(
    "46wZgNf1h_8Gl8i_zpWrekxvKXBBsYuSuW5qnXsojPIS5jVbIUoGCagc07tRT0ZC9BAT3DR6ul4_",
    "zV94-vGaFkYp2JmKZNOjSdoey1JP5jeV1JneuQ-C04hP6flwWaH93rc7di0_yWtoQNBAWiN3IQJ2",
    "mbbvmbElHAe4GU_0qxGYj1pMwXYh3H0-Tndm5wlRBCjkew5AoJxw-3sFPYcvpUgzOcyVi08Q9-MU",
    "LLE-VjvrAN_LM7xka3jaQtLtcYTRkBjT2IKypR6OJfm_TUyz6geB513_Jfby4SNtLdDBeYoUJwF7",
    "iyOh0vdDPk0x8K2Np5gRqDWODtk20JRHY9MOHQ",
);

/// The public exponent, 65537 (JWK `e`).
pub const EXPONENT: &str = "AQAB";

/// The key pair, parsed once per process.
pub struct Keys {
    /// Signs tokens.
    pub encoding: EncodingKey,
    /// Verifies them.
    pub decoding: DecodingKey,
}

impl Keys {
    fn parse() -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(&der()?),
            decoding: DecodingKey::from_rsa_components(MODULUS, EXPONENT)?,
        })
    }
}

fn der() -> Result<Vec<u8>, jsonwebtoken::errors::Error> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(PRIVATE_KEY_PKCS1_BASE64)
        .map_err(|e| jsonwebtoken::errors::ErrorKind::Base64(e).into())
}

static KEYS: LazyLock<Result<Keys, jsonwebtoken::errors::Error>> = LazyLock::new(Keys::parse);

/// The parsed key pair; an error only if the committed key were corrupt
/// (a unit test parses it).
pub fn keys() -> Result<&'static Keys, &'static jsonwebtoken::errors::Error> {
    KEYS.as_ref()
}

/// The header of every token this simulator signs: RS256 with [`KEY_ID`].
pub fn header() -> Header {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.to_owned());
    header
}

/// The JWKS document: one RSA signing key, in the fields Entra lists.
pub fn jwks() -> String {
    serde_json::json!({
        "keys": [{
            "kty": "RSA",
            "use": "sig",
            "kid": KEY_ID,
            "n": MODULUS,
            "e": EXPONENT,
            "alg": "RS256",
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_key_verifies_what_the_private_key_signs() {
        let keys = keys().unwrap();
        let claims = serde_json::json!({"sub": "x", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(&header(), &claims, &keys.encoding).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let jwks: serde_json::Value = serde_json::from_str(&jwks()).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let from_jwks = DecodingKey::from_jwk(&jwk).unwrap();
        jsonwebtoken::decode::<serde_json::Value>(&token, &from_jwks, &validation).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(KEY_ID));
    }
}
