//! Access tokens: the claims, the Ed25519 signer (gateway) and the verifier (api and gateway).
//!
//! The verifier pins `alg` to EdDSA, looks the key up by `kid`, requires every claim, and
//! checks `iss`, `aud`, `typ`, `nbf` and `exp`; a queue token or garbage never passes.

use std::{collections::HashMap, path::Path};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ConcertId, TicketId, UserId};

/// `iss` of every access token.
pub const ISSUER: &str = "ticketing-gateway";
/// `aud` of every access token: the api.
pub const AUDIENCE: &str = "ticketing-api";
/// `typ` claim of an access token.
pub const ACCESS_TYPE: &str = "access";

/// The claims of an access token, all required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: UserId,
    /// The concert the session admits to.
    pub cid: ConcertId,
    /// The queue ticket id (the place's arrival sequence), a decimal string.
    pub jti: TicketId,
    pub iat: i64,
    pub nbf: i64,
    /// The session expiry (seconds since the epoch).
    pub exp: i64,
    pub typ: String,
}

impl AccessClaims {
    /// Claims for a session of `user_id` at `concert_id` issued at `now` (seconds).
    pub fn new(
        user_id: &UserId,
        concert_id: ConcertId,
        ticket_id: TicketId,
        now: i64,
        exp: i64,
    ) -> Self {
        Self {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user_id.clone(),
            cid: concert_id,
            jti: ticket_id,
            iat: now,
            nbf: now,
            exp,
            typ: ACCESS_TYPE.into(),
        }
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("unknown key id")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("not an access token")]
    WrongType,
}

/// Errors reading or writing key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

fn key_err(path: &Path, message: impl ToString) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// An Ed25519 public key with its key id (the RFC 7638 JWK thumbprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// The raw key, base64url without padding (the JWK `x`).
    pub x: String,
}

impl PublicKey {
    fn from_verifying_key(key: &ed25519_dalek::VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        // RFC 7638: SHA-256 over the required members in lexicographic order.
        let thumb = Sha256::digest(format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        Self {
            kid: URL_SAFE_NO_PAD.encode(thumb),
            x,
        }
    }

    /// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key =
            ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(|e| e.to_string())?;
        Ok(Self::from_verifying_key(&key))
    }

    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|e| key_err(path, e))?;
        Self::from_pem(&pem).map_err(|e| key_err(path, e))
    }

    /// The JWK of this key as published in the JWKS.
    pub fn to_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid,
            "alg": "EdDSA", "use": "sig",
        })
    }
}

/// The gateway's signing key.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_dalek(key: ed25519_dalek::SigningKey) -> Result<Self, String> {
        let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let public = PublicKey::from_verifying_key(&key.verifying_key());
        Ok(Self {
            key,
            public,
            encoding,
        })
    }

    /// A fresh random key (development and tests).
    pub fn generate() -> Self {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_dalek(key).expect("a generated key encodes") // ok: infallible for a valid key
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
        Self::from_dalek(key)
    }

    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|e| key_err(path, e))?;
        Self::from_pem(&pem).map_err(|e| key_err(path, e))
    }

    pub fn private_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs access-token claims as a JWT with `alg` EdDSA and this key's `kid`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign_claims(claims)
    }

    /// Signs any claims as a JWT with `alg` EdDSA and this key's `kid` (the development
    /// login's identity tokens, see `identity.rs`).
    pub fn sign_claims<T: Serialize>(
        &self,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.public.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// A 32-byte secret derived from this key for `purpose` (e.g. sealing queue tokens), so
    /// the gateway needs no second secret and rotating the signing key rotates it too.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"ticketing/derive/v1/");
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(self.key.to_bytes());
        h.finalize().into()
    }
}

/// The development key pair under `dir` (`dev-signing.pem` and `dev-signing.pub.pem`),
/// created on first use. Production sets `JWT_SIGNING_KEY` / `JWT_PUBLIC_KEYS` instead.
pub fn dev_key_pair(dir: &Path) -> Result<SigningKey, KeyError> {
    named_dev_key_pair(dir, "dev-signing")
}

/// The development login's key pair under `dir` (`dev-identity.pem`, `.pub.pem`), created on
/// first use by whichever binary starts first with `DEV_LOGIN=1`: the gateway signs identity
/// tokens with it, both binaries trust it.
pub fn dev_identity_key_pair(dir: &Path) -> Result<SigningKey, KeyError> {
    named_dev_key_pair(dir, "dev-identity")
}

fn named_dev_key_pair(dir: &Path, name: &str) -> Result<SigningKey, KeyError> {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    if private.exists() {
        return SigningKey::from_pem_file(&private);
    }
    std::fs::create_dir_all(dir).map_err(|e| key_err(dir, e))?;
    let key = SigningKey::generate();
    // Write under a temporary name, then link it into place: linking fails when another
    // process created the pair first, and nobody ever reads half a file.
    let tmp = dir.join(format!("{name}.pem.{}", std::process::id()));
    std::fs::write(&tmp, key.private_pem()).map_err(|e| key_err(&tmp, e))?;
    let linked = std::fs::hard_link(&tmp, &private);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            std::fs::write(&public, key.public_pem()).map_err(|e| key_err(&public, e))?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            SigningKey::from_pem_file(&private)
        }
        Err(e) => Err(key_err(&private, e)),
    }
}

/// How many verified tokens a [`Verifier`] remembers (about half a kilobyte each).
pub const VERIFIED_TOKENS_CAPACITY: usize = 50_000;

/// Verifies access tokens against a set of public keys (several during a rotation).
///
/// A token that verified is remembered, keyed by the whole token, until its `exp`: an
/// admitted fan sends the same token with every seat map, hold and payment, and checking an
/// Ed25519 signature costs far more than a lookup. A refused token is never remembered, and
/// any change to a token's bytes makes it another key.
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    verified: quick_cache::sync::Cache<Box<str>, AccessClaims>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    pub fn new(public_keys: &[PublicKey]) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for k in public_keys {
            let decoding = DecodingKey::from_ed_components(&k.x).map_err(|e| e.to_string())?;
            keys.insert(k.kid.clone(), decoding);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 2;
        Ok(Self {
            keys,
            validation,
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS_CAPACITY),
        })
    }

    /// Checks signature, algorithm, key id and every claim, once per token and instance.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        if let Some(claims) = self.verified.get(token) {
            if claims.exp > now {
                metrics::counter!("access_token_verifications_total", "result" => "cached")
                    .increment(1);
                return Ok(claims);
            }
            self.verified.remove(token);
        }
        let verified = self.verify_uncached(token);
        let result = if verified.is_ok() {
            "verified"
        } else {
            "refused"
        };
        metrics::counter!("access_token_verifications_total", "result" => result).increment(1);
        let claims = verified?;
        self.verified.insert(token.into(), claims.clone());
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if claims.typ != ACCESS_TYPE {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn cid(id: i64) -> ConcertId {
        ConcertId::new(id).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let claims =
            AccessClaims::new(&user("alice"), cid(7), TicketId::new(12), now(), now() + 60);
        let token = key.sign(&claims).unwrap();
        assert_eq!(verifier.verify(&token).unwrap(), claims);
    }

    #[test]
    fn pem_round_trip_keeps_the_key_id() {
        let key = SigningKey::generate();
        let again = SigningKey::from_pem(&key.private_pem()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(
            PublicKey::from_pem(&key.public_pem()).unwrap(),
            *key.public_key()
        );
    }

    #[test]
    fn rotation_accepts_every_published_key() {
        let (old, new) = (SigningKey::generate(), SigningKey::generate());
        let verifier =
            Verifier::new(&[old.public_key().clone(), new.public_key().clone()]).unwrap();
        for k in [&old, &new] {
            let t = k
                .sign(&AccessClaims::new(
                    &user("u"),
                    cid(1),
                    TicketId::new(1),
                    now(),
                    now() + 60,
                ))
                .unwrap();
            assert!(verifier.verify(&t).is_ok());
        }
    }

    #[test]
    fn wrong_signature_is_rejected() {
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        // Same kid, different signer: the signature does not match.
        let mut forged = other.clone();
        forged.public = key.public.clone();
        let t = forged
            .sign(&AccessClaims::new(
                &user("u"),
                cid(1),
                TicketId::new(1),
                now(),
                now() + 60,
            ))
            .unwrap();
        assert!(matches!(verifier.verify(&t), Err(TokenError::Invalid(_))));
        let t = other
            .sign(&AccessClaims::new(
                &user("u"),
                cid(1),
                TicketId::new(1),
                now(),
                now() + 60,
            ))
            .unwrap();
        assert!(matches!(verifier.verify(&t), Err(TokenError::UnknownKey)));
    }

    #[test]
    fn expired_wrong_audience_and_wrong_type_are_rejected() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let mut c = AccessClaims::new(
            &user("u"),
            cid(1),
            TicketId::new(1),
            now() - 120,
            now() - 60,
        );
        assert!(verifier.verify(&key.sign(&c).unwrap()).is_err());
        c = AccessClaims::new(&user("u"), cid(1), TicketId::new(1), now(), now() + 60);
        c.aud = "someone-else".into();
        assert!(verifier.verify(&key.sign(&c).unwrap()).is_err());
        c = AccessClaims::new(&user("u"), cid(1), TicketId::new(1), now(), now() + 60);
        c.iss = "mallory".into();
        assert!(verifier.verify(&key.sign(&c).unwrap()).is_err());
        c = AccessClaims::new(&user("u"), cid(1), TicketId::new(1), now(), now() + 60);
        c.typ = "queue".into();
        assert!(matches!(
            verifier.verify(&key.sign(&c).unwrap()),
            Err(TokenError::WrongType)
        ));
        c = AccessClaims::new(
            &user("u"),
            cid(1),
            TicketId::new(1),
            now() + 300,
            now() + 600,
        );
        assert!(
            verifier.verify(&key.sign(&c).unwrap()).is_err(),
            "nbf in the future"
        );
    }

    #[test]
    fn alg_none_and_hs256_are_rejected() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let claims = serde_json::to_value(AccessClaims::new(
            &user("u"),
            cid(1),
            TicketId::new(1),
            now(),
            now() + 60,
        ))
        .unwrap();
        let body = b64(&claims);
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","kid":key.public.kid})),
            body
        );
        assert!(verifier.verify(&none).is_err());
        // Algorithm swap: HMAC keyed with the public key bytes.
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(key.public.kid.clone());
        let hs = jsonwebtoken::encode(
            &h,
            &claims,
            &EncodingKey::from_secret(key.public.x.as_bytes()),
        )
        .unwrap();
        assert!(verifier.verify(&hs).is_err());
    }

    #[test]
    fn missing_claims_and_garbage_are_rejected() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(key.public.kid.clone());
        for missing in ["cid", "jti", "typ", "sub", "exp", "nbf", "iat"] {
            let mut claims = serde_json::to_value(AccessClaims::new(
                &user("u"),
                cid(1),
                TicketId::new(1),
                now(),
                now() + 60,
            ))
            .unwrap();
            claims.as_object_mut().unwrap().remove(missing);
            let t = jsonwebtoken::encode(&h, &claims, &key.encoding).unwrap();
            assert!(
                verifier.verify(&t).is_err(),
                "token without {missing} passed"
            );
        }
        for garbage in ["", "abc", "a.b.c", "Bearer x", "eyJhbGciOiJFZERTQSJ9.e30."] {
            assert!(verifier.verify(garbage).is_err(), "{garbage:?} passed");
        }
    }

    #[test]
    fn a_cached_token_does_not_vouch_for_a_tampered_one() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let claims = AccessClaims::new(&user("amy"), cid(1), TicketId::new(1), now(), now() + 60);
        let token = key.sign(&claims).unwrap();
        assert!(verifier.verify(&token).is_ok());
        assert!(verifier.verify(&token).is_ok(), "cached");
        // Another subject under the same signature: a different key in the cache, refused.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut other = serde_json::to_value(&claims).unwrap();
        other["sub"] = "mallory".into();
        let tampered = format!("{head}.{}.{sig}", b64(&other));
        assert!(matches!(
            verifier.verify(&tampered),
            Err(TokenError::Invalid(_))
        ));
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(verifier
            .verify(std::str::from_utf8(&flipped).unwrap())
            .is_err());
        assert!(
            verifier.verify(&token).is_ok(),
            "the genuine one still passes"
        );
    }

    #[test]
    fn a_cached_token_is_refused_once_it_expires() {
        let key = SigningKey::generate();
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let exp = now() + 1;
        let c = AccessClaims::new(&user("u"), cid(1), TicketId::new(1), now(), exp);
        let token = key.sign(&c).unwrap();
        assert!(verifier.verify(&token).is_ok());
        // Past `exp` and the verifier's leeway: the remembered verification no longer counts.
        while now() <= exp + verifier.validation.leeway as i64 {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn a_refused_token_is_not_remembered() {
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        let verifier = Verifier::new(&[key.public_key().clone()]).unwrap();
        let t = other
            .sign(&AccessClaims::new(
                &user("u"),
                cid(1),
                TicketId::new(1),
                now(),
                now() + 60,
            ))
            .unwrap();
        assert!(verifier.verify(&t).is_err());
        assert!(verifier.verify(&t).is_err());
        assert!(verifier.verified.is_empty());
    }

    #[test]
    fn dev_key_pair_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("tix-keys-{}", uuid_like()));
        let a = dev_key_pair(&dir).unwrap();
        let b = dev_key_pair(&dir).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        let public = PublicKey::from_pem_file(&dir.join("dev-signing.pub.pem")).unwrap();
        assert_eq!(&public, a.public_key());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn uuid_like() -> String {
        use rand::Rng;
        format!("{:016x}", rand::thread_rng().gen::<u64>())
    }
}
