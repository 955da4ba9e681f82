//! Standard Webhooks signatures (spec 1.0.0, "Signature scheme"):
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
//! one space-separated signature per secret while a secret is rotated, so
//! a receiver that knows either secret accepts the message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The keys of one endpoint.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        write!(f, "Signer({} keys)", self.keys.len())
    }
}

impl Signer {
    /// Parses space-separated secrets, each `whsec_` + base64 (the prefix
    /// is optional, as in the reference libraries). Empty: no signing.
    pub fn parse(secrets: &str) -> Result<Signer, String> {
        let mut keys = Vec::new();
        for (i, s) in secrets.split_whitespace().enumerate() {
            let b64 = s.strip_prefix("whsec_").unwrap_or(s);
            let key = STANDARD
                .decode(b64)
                .map_err(|e| format!("secret {} is not whsec_ + base64: {e}", i + 1))?;
            // The spec asks for 24 to 64 bytes; shorter keys are weak.
            if key.len() < 16 {
                return Err(format!(
                    "secret {} has {} bytes; use at least 24 (spec: 24 to 64)",
                    i + 1,
                    key.len()
                ));
            }
            keys.push(key);
        }
        Ok(Signer { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `webhook-signature` value for one attempt.
    pub fn header(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::with_capacity(self.keys.len() * 48);
        for key in &self.keys {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str("v1,");
            out.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (standard-webhooks, spec 1.0.0,
    /// and the reference libraries' tests): this secret, id, timestamp and
    /// body give exactly this signature.
    #[test]
    fn matches_the_specification_example() {
        let s = Signer::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = s.header(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_every_secret_and_bad_secrets_are_refused() {
        let s = Signer::parse(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx",
        )
        .unwrap();
        let sig = s.header("id", 1, b"{}");
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_ne!(parts[0], parts[1]);
        assert!(Signer::parse("whsec_not base64!").is_err());
        assert!(Signer::parse("whsec_c2hvcnQ=").is_err(), "5-byte key");
        assert!(Signer::parse("").unwrap().is_empty());
    }
}
