//! Identity tokens: who the user is, as the promoter's login service (any OpenID Connect
//! provider) says, verified locally against its JWKS.
//!
//! Each key pins its algorithm (RSA → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA; symmetric
//! and encryption keys are never used), so a token cannot choose how it is checked (RFC 8725:
//! no `alg: none`, no HS256 keyed with a public key, no key of another type). `sub` is the
//! user id. The key set is read from a file or fetched from a URL at start, fetched again when
//! a token names an unknown `kid` (at most every [`MIN_REFRESH_INTERVAL`]) and periodically
//! ([`IdentityVerifier::refresh_every`]). A verified token is remembered until its `exp`, and
//! forgotten with the key set it was verified against.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm},
    Algorithm, DecodingKey,
};
use serde::Deserialize;

use crate::{
    ids::UserId,
    token::{PublicKey, SigningKey},
};

/// The clock leeway for `exp` and `nbf`: a few seconds of skew between the provider and us.
pub const LEEWAY_SECS: u64 = 5;
/// The least time between two fetches of the key set caused by unknown `kid`s, so that
/// tokens with made-up key ids cannot make us hammer the provider.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// How many verified identity tokens are remembered.
pub const VERIFIED_TOKENS_CAPACITY: usize = 50_000;

/// `iss` and `aud` of the identity tokens that the development login (`DEV_LOGIN=1`) signs.
pub const DEV_ISSUER: &str = "ticketing-dev-login";
pub const DEV_AUDIENCE: &str = "ticketing";

/// Where the provider's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `IDENTITY_JWKS_URL`: fetched at start and refreshed.
    Url(String),
    /// `IDENTITY_JWKS_FILE`: read at start and on refresh.
    File(PathBuf),
}

/// A trusted issuer of identity tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub jwks: JwksSource,
    /// `IDENTITY_ISSUER`: the exact `iss` of its tokens.
    pub issuer: String,
    /// `IDENTITY_AUDIENCE`: an `aud` its tokens must carry.
    pub audience: String,
}

/// What an identity token says, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    /// When the token expires (seconds since the epoch).
    pub expires_at: i64,
}

/// Why an identity token was refused. Every case is a 401 for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the identity token is malformed")]
    Malformed,
    #[error("the identity token is signed with a key we do not know")]
    UnknownKey,
    #[error("the identity token's algorithm does not match its key")]
    WrongAlgorithm,
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token is invalid: {0}")]
    Invalid(String),
    #[error("the identity provider's keys could not be read: {0}")]
    KeysUnavailable(String),
}

/// One usable key: its pinned algorithm, and the issuer and audience its tokens must carry.
struct TrustedKey {
    algorithm: Algorithm,
    key: DecodingKey,
    issuer: String,
    audience: String,
}

/// The keys of every trusted issuer, by `kid`, with a generation that changes with each
/// fetch that changed them.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<TrustedKey>>,
    generation: u64,
    /// The JWKS as fetched, to tell whether a refresh changed anything.
    raw: String,
}

/// Verifies identity tokens of the configured provider and, in development, of the
/// development login.
pub struct IdentityVerifier {
    provider: Option<Provider>,
    dev_key: Option<PublicKey>,
    keys: RwLock<Arc<KeySet>>,
    last_fetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    http: reqwest::Client,
    verified: quick_cache::sync::Cache<Box<str>, (Identity, u64)>,
}

impl std::fmt::Debug for IdentityVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityVerifier")
            .field("provider", &self.provider)
            .field("dev_login", &self.dev_key.is_some())
            .finish()
    }
}

impl IdentityVerifier {
    /// A verifier of `provider`'s tokens and, when `dev_key` is given, of the development
    /// login's; fetches the provider's keys now (an error when they cannot be read).
    pub async fn new(
        provider: Option<Provider>,
        dev_key: Option<PublicKey>,
    ) -> Result<Self, IdentityError> {
        if provider.is_none() && dev_key.is_none() {
            return Err(IdentityError::KeysUnavailable(
                "no identity provider configured (IDENTITY_JWKS_URL or IDENTITY_JWKS_FILE) and the development login is off".into(),
            ));
        }
        let verifier = Self {
            provider,
            dev_key,
            keys: RwLock::default(),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| IdentityError::KeysUnavailable(e.to_string()))?,
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS_CAPACITY),
        };
        verifier.refresh().await?;
        Ok(verifier)
    }

    /// How often the key set is fetched again even when no token asks for it.
    pub fn refresh_every() -> Duration {
        Duration::from_secs(300)
    }

    /// Fetches the key set again; tokens verified against keys that are gone are forgotten.
    pub async fn refresh(&self) -> Result<(), IdentityError> {
        let _one_at_a_time = self.fetching.lock().await;
        *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let raw = match &self.provider {
            Some(p) => self.fetch(&p.jwks).await?,
            None => String::new(),
        };
        let current = self.key_set();
        if current.generation > 0 && current.raw == raw {
            return Ok(());
        }
        let mut keys = HashMap::new();
        if let Some(p) = &self.provider {
            keys.extend(trusted_keys(&raw, &p.issuer, &p.audience)?);
        }
        if let Some(dev) = &self.dev_key {
            let key = DecodingKey::from_ed_components(&dev.x)
                .map_err(|e| IdentityError::KeysUnavailable(e.to_string()))?;
            keys.insert(
                dev.kid.clone(),
                Arc::new(trusted(Algorithm::EdDSA, key, DEV_ISSUER, DEV_AUDIENCE)),
            );
        }
        let next = KeySet {
            keys,
            generation: current.generation + 1,
            raw,
        };
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(())
    }

    async fn fetch(&self, source: &JwksSource) -> Result<String, IdentityError> {
        let unavailable = |e: String| IdentityError::KeysUnavailable(e);
        match source {
            JwksSource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| unavailable(format!("{}: {e}", path.display()))),
            JwksSource::Url(url) => {
                let res = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| unavailable(format!("{url}: {e}")))?;
                if !res.status().is_success() {
                    return Err(unavailable(format!("{url}: HTTP {}", res.status())));
                }
                res.text()
                    .await
                    .map_err(|e| unavailable(format!("{url}: {e}")))
            }
        }
    }

    fn key_set(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key `kid`, fetching the key set again first when it is unknown and the last
    /// fetch is old enough.
    async fn key(&self, kid: &str) -> Result<(Arc<TrustedKey>, u64), IdentityError> {
        let set = self.key_set();
        if let Some(k) = set.keys.get(kid) {
            return Ok((k.clone(), set.generation));
        }
        let due = self
            .last_fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| at.elapsed() >= MIN_REFRESH_INTERVAL);
        if due && self.provider.is_some() {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not refresh the identity provider's keys");
            }
            let set = self.key_set();
            if let Some(k) = set.keys.get(kid) {
                return Ok((k.clone(), set.generation));
            }
        }
        Err(IdentityError::UnknownKey)
    }

    /// Verifies `token`: signature with the key its `kid` names and that key's algorithm,
    /// `iss`, `aud`, `exp`, `nbf` and `sub` (a valid user id).
    pub async fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        if let Some((identity, generation)) = self.verified.get(token) {
            if identity.expires_at > now && generation == self.key_set().generation {
                metrics::counter!("identity_token_verifications_total", "result" => "cached")
                    .increment(1);
                return Ok(identity);
            }
            self.verified.remove(token);
        }
        let verified = self.verify_uncached(token).await;
        let result = if verified.is_ok() {
            "verified"
        } else {
            "refused"
        };
        metrics::counter!("identity_token_verifications_total", "result" => result).increment(1);
        let (identity, generation) = verified?;
        self.verified
            .insert(token.into(), (identity.clone(), generation));
        Ok(identity)
    }

    /// Each part of the token is decoded and parsed once (`jsonwebtoken::decode` would parse
    /// the header three times and the claims twice), the signature checked with the key's
    /// pinned algorithm before any claim is read, then the claims checked as
    /// `jsonwebtoken::Validation` would with [`LEEWAY_SECS`].
    async fn verify_uncached(&self, token: &str) -> Result<(Identity, u64), IdentityError> {
        let (message, signature) = token.rsplit_once('.').ok_or(IdentityError::Malformed)?;
        let (header, claims) = message.split_once('.').ok_or(IdentityError::Malformed)?;
        // A fourth part would make the signed message end in a part of its own: a token is
        // exactly a header, claims and a signature.
        if claims.contains('.') {
            return Err(IdentityError::Malformed);
        }
        let header: Header = decode_part(header).ok_or(IdentityError::Malformed)?;
        let kid = header.kid.ok_or(IdentityError::UnknownKey)?;
        let (key, generation) = self.key(&kid).await?;
        if header.alg != key.algorithm {
            return Err(IdentityError::WrongAlgorithm);
        }
        let invalid = |why: &str| IdentityError::Invalid(why.into());
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, key.algorithm) {
            Ok(true) => {}
            Ok(false) => return Err(invalid("InvalidSignature")),
            Err(e) => return Err(IdentityError::Invalid(e.to_string())),
        }
        let claims: Claims = decode_part(claims)
            .ok_or_else(|| invalid("iss, aud, sub (a user id) or exp is missing or malformed"))?;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.exp < now.saturating_sub(LEEWAY_SECS) {
            return Err(IdentityError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > (now + LEEWAY_SECS) as f64)
        {
            return Err(invalid("ImmatureSignature"));
        }
        if claims.iss != key.issuer {
            return Err(invalid("InvalidIssuer"));
        }
        if !claims.aud.contains(&key.audience) {
            return Err(invalid("InvalidAudience"));
        }
        let expires_at = i64::try_from(claims.exp).map_err(|_| invalid("exp is out of range"))?;
        Ok((
            Identity {
                user_id: claims.sub,
                expires_at,
            },
            generation,
        ))
    }
}

/// An identity token for `user_id` from the development login (`DEV_LOGIN=1`), valid for
/// `ttl_secs`, signed with the development key; with its expiry (seconds since the epoch).
pub fn dev_login_token(
    key: &SigningKey,
    user_id: &UserId,
    ttl_secs: i64,
) -> Result<(String, i64), jsonwebtoken::errors::Error> {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let exp = now + ttl_secs;
    let claims = serde_json::json!({
        "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": user_id, "iat": now, "nbf": now, "exp": exp,
    });
    Ok((key.sign_claims(&claims)?, exp))
}

/// The header fields we read; `alg` must name one of jsonwebtoken's algorithms (so `none`
/// is malformed), and must then be the pinned algorithm of the key `kid` names.
#[derive(Deserialize)]
struct Header {
    alg: Algorithm,
    kid: Option<String>,
}

/// The claims we read and check. `iss`, `aud`, `sub` and `exp` are required; `exp` is whole
/// seconds since the epoch, `nbf` any number of them.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    sub: UserId,
    exp: u64,
    nbf: Option<f64>,
}

/// `aud`: one audience or several (RFC 7519 4.1.3); ours must be among them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(aud) => aud == audience,
            Self::Many(auds) => auds.iter().any(|aud| aud == audience),
        }
    }
}

/// A base64url (unpadded) JSON part of a token, or `None` when it is not one.
fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let json = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&json).ok()
}

fn trusted(algorithm: Algorithm, key: DecodingKey, issuer: &str, audience: &str) -> TrustedKey {
    TrustedKey {
        algorithm,
        key,
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
    }
}

/// The signing keys of a JWKS document, each with its pinned algorithm. Keys we cannot use
/// (symmetric, for encryption, other curves or algorithms, without `kid`) are skipped.
fn trusted_keys(
    jwks: &str,
    issuer: &str,
    audience: &str,
) -> Result<Vec<(String, Arc<TrustedKey>)>, IdentityError> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let doc: Document = serde_json::from_str(jwks)
        .map_err(|e| IdentityError::KeysUnavailable(format!("not a JWKS document: {e}")))?;
    let mut out = Vec::new();
    for value in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            continue;
        }
        let pinned = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            _ => continue,
        };
        let declared = jwk.common.key_algorithm;
        let agrees = match declared {
            None => true,
            Some(KeyAlgorithm::RS256) => pinned == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => pinned == Algorithm::ES256,
            Some(KeyAlgorithm::EdDSA) => pinned == Algorithm::EdDSA,
            Some(_) => false,
        };
        if !agrees {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.push((kid, Arc::new(trusted(pinned, key, issuer, audience))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};

    // Test-only keys, generated with openssl for these tests.
    const RSA_PRIVATE: &str = include_str!("../tests/keys/rsa.pem");
    const EC_PRIVATE: &str = include_str!("../tests/keys/ec.pem");
    const JWKS: &str = include_str!("../tests/keys/jwks.json");
    const ISS: &str = "https://login.example.test/realms/fans";
    const AUD: &str = "ticketing";

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn claims(sub: &str) -> Value {
        json!({"iss": ISS, "aud": AUD, "sub": sub, "iat": now(), "exp": now() + 300})
    }

    fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, claims, key).unwrap()
    }

    fn rsa() -> EncodingKey {
        EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap()
    }

    fn ec() -> EncodingKey {
        EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap()
    }

    fn jwks_file(contents: &str) -> PathBuf {
        use rand::Rng;
        let path = std::env::temp_dir().join(format!(
            "jwks-{:016x}.json",
            rand::thread_rng().gen::<u64>()
        ));
        std::fs::write(&path, contents).unwrap();
        path
    }

    async fn verifier_with(jwks: &str, dev: Option<&SigningKey>) -> IdentityVerifier {
        let provider = Provider {
            jwks: JwksSource::File(jwks_file(jwks)),
            issuer: ISS.into(),
            audience: AUD.into(),
        };
        IdentityVerifier::new(Some(provider), dev.map(|k| k.public_key().clone()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn rs256_es256_and_the_dev_login_verify() {
        let dev = SigningKey::generate();
        let v = verifier_with(JWKS, Some(&dev)).await;
        let rs = sign(Algorithm::RS256, "rsa-1", &rsa(), &claims("alice"));
        assert_eq!(v.verify(&rs).await.unwrap().user_id.as_str(), "alice");
        let es = sign(Algorithm::ES256, "ec-1", &ec(), &claims("bob"));
        assert_eq!(v.verify(&es).await.unwrap().user_id.as_str(), "bob");
        let dev_claims =
            json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "carol", "exp": now() + 60});
        let ed = dev.sign_claims(&dev_claims).unwrap();
        assert_eq!(v.verify(&ed).await.unwrap().user_id.as_str(), "carol");
        let (issued, expires_at) =
            dev_login_token(&dev, &UserId::parse("dan").unwrap(), 60).unwrap();
        let identity = v.verify(&issued).await.unwrap();
        assert_eq!(
            (identity.user_id.as_str(), identity.expires_at),
            ("dan", expires_at)
        );
        // A development token does not pass as the provider's.
        let mut wrong = dev_claims.clone();
        wrong["iss"] = ISS.into();
        assert!(v.verify(&dev.sign_claims(&wrong).unwrap()).await.is_err());
    }

    #[tokio::test]
    async fn rfc8725_negative_cases_are_refused() {
        let v = verifier_with(JWKS, None).await;
        let c = claims("mallory");
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        // alg none
        let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"rsa-1"}"#);
        assert_eq!(
            v.verify(&format!("{head}.{body}.")).await,
            Err(IdentityError::Malformed)
        );
        // HS256 keyed with the RSA key's public modulus
        let jwks: Value = serde_json::from_str(JWKS).unwrap();
        let n = jwks["keys"][0]["n"].as_str().unwrap();
        let hs = sign(
            Algorithm::HS256,
            "rsa-1",
            &EncodingKey::from_secret(n.as_bytes()),
            &c,
        );
        assert_eq!(v.verify(&hs).await, Err(IdentityError::WrongAlgorithm));
        // a key of the wrong type: ES256 header naming the RSA key
        let es = sign(Algorithm::ES256, "rsa-1", &ec(), &c);
        assert_eq!(v.verify(&es).await, Err(IdentityError::WrongAlgorithm));
        // wrong iss, wrong aud
        for (field, value) in [("iss", "https://evil.test"), ("aud", "someone-else")] {
            let mut bad = c.clone();
            bad[field] = value.into();
            let t = sign(Algorithm::RS256, "rsa-1", &rsa(), &bad);
            assert!(
                matches!(v.verify(&t).await, Err(IdentityError::Invalid(_))),
                "{field}"
            );
        }
        // expired, beyond the leeway
        let mut bad = c.clone();
        bad["exp"] = (now() - LEEWAY_SECS as i64 - 5).into();
        let t = sign(Algorithm::RS256, "rsa-1", &rsa(), &bad);
        assert_eq!(v.verify(&t).await, Err(IdentityError::Expired));
        // not yet valid
        let mut bad = c.clone();
        bad["nbf"] = (now() + 120).into();
        let t = sign(Algorithm::RS256, "rsa-1", &rsa(), &bad);
        assert!(matches!(v.verify(&t).await, Err(IdentityError::Invalid(_))));
        // missing or invalid sub
        let mut bad = c.clone();
        bad.as_object_mut().unwrap().remove("sub");
        let t = sign(Algorithm::RS256, "rsa-1", &rsa(), &bad);
        assert!(matches!(v.verify(&t).await, Err(IdentityError::Invalid(_))));
        bad["sub"] = "a:b".into();
        let t = sign(Algorithm::RS256, "rsa-1", &rsa(), &bad);
        assert!(matches!(v.verify(&t).await, Err(IdentityError::Invalid(_))));
        // unknown kid
        let t = sign(Algorithm::RS256, "nobody", &rsa(), &c);
        assert_eq!(v.verify(&t).await, Err(IdentityError::UnknownKey));
        // garbage
        for garbage in ["", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30."] {
            assert!(v.verify(garbage).await.is_err(), "{garbage:?}");
        }
    }

    #[tokio::test]
    async fn claims_are_checked_as_the_validation_did() {
        let v = verifier_with(JWKS, None).await;
        let signed = |edit: &dyn Fn(&mut Value)| {
            let mut c = claims("frank");
            edit(&mut c);
            sign(Algorithm::RS256, "rsa-1", &rsa(), &c)
        };
        // Accepted: our audience among several; exp and nbf within the leeway.
        for ok in [
            signed(&|c| c["aud"] = json!(["account", AUD])),
            signed(&|c| c["exp"] = (now() - LEEWAY_SECS as i64 + 2).into()),
            signed(&|c| c["nbf"] = (now() + LEEWAY_SECS as i64 - 2).into()),
            signed(&|c| c["nbf"] = json!(now() as f64 - 0.5)),
        ] {
            assert!(v.verify(&ok).await.is_ok(), "{ok}");
        }
        // Refused: not among the audiences, an issuer list, a fractional or missing exp,
        // missing iss or aud.
        let refused = [
            signed(&|c| c["aud"] = json!(["account", "other"])),
            signed(&|c| c["iss"] = json!([ISS])),
            signed(&|c| c["exp"] = json!(now() as f64 + 60.5)),
            signed(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
            signed(&|c| drop(c.as_object_mut().unwrap().remove("iss"))),
            signed(&|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ];
        for bad in refused {
            assert!(
                matches!(v.verify(&bad).await, Err(IdentityError::Invalid(_))),
                "{bad}"
            );
        }
        // A token is three parts: a fourth is malformed, even after a valid token.
        let t = signed(&|_| {});
        assert_eq!(
            v.verify(&format!("{t}.{t}")).await,
            Err(IdentityError::Malformed)
        );
        let (message, signature) = t.rsplit_once('.').unwrap();
        assert_eq!(
            v.verify(&format!("{message}.e30.{signature}")).await,
            Err(IdentityError::Malformed)
        );
    }

    #[tokio::test]
    async fn a_rotated_key_is_picked_up_and_a_removed_one_forgotten() {
        let jwks: Value = serde_json::from_str(JWKS).unwrap();
        let only_ec = json!({"keys": [jwks["keys"][1]]});
        let path = jwks_file(&only_ec.to_string());
        let provider = Provider {
            jwks: JwksSource::File(path.clone()),
            issuer: ISS.into(),
            audience: AUD.into(),
        };
        let v = IdentityVerifier::new(Some(provider), None).await.unwrap();
        let es = sign(Algorithm::ES256, "ec-1", &ec(), &claims("dora"));
        assert!(v.verify(&es).await.is_ok());
        // The RSA key is published later under a new kid: the first token naming it makes
        // the verifier fetch the keys again.
        std::fs::write(&path, JWKS).unwrap();
        *v.last_fetch.lock().unwrap() = None;
        let rs = sign(Algorithm::RS256, "rsa-1", &rsa(), &claims("dora"));
        assert!(v.verify(&rs).await.is_ok());
        // The EC key is withdrawn: its tokens, cached or not, are refused after the refresh.
        std::fs::write(&path, json!({"keys": [jwks["keys"][0]]}).to_string()).unwrap();
        v.refresh().await.unwrap();
        assert_eq!(v.verify(&es).await, Err(IdentityError::UnknownKey));
    }

    #[tokio::test]
    async fn a_cached_token_does_not_vouch_for_a_tampered_one() {
        let v = verifier_with(JWKS, None).await;
        let t = sign(Algorithm::RS256, "rsa-1", &rsa(), &claims("erin"));
        assert!(v.verify(&t).await.is_ok());
        let (head, rest) = t.split_once('.').unwrap();
        let sig = rest.split_once('.').unwrap().1;
        let other = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("mallory")).unwrap());
        assert!(v.verify(&format!("{head}.{other}.{sig}")).await.is_err());
        assert!(v.verify(&t).await.is_ok());
    }
}
