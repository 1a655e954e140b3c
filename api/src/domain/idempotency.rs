//! The `Idempotency-Key` header and the hash of the request it protects.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};

/// 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of the request, if it has one; 400 `INVALID_IDEMPOTENCY_KEY` when malformed.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = value.to_str().ok().map(str::trim).unwrap_or_default();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::Invalid(
                "INVALID_IDEMPOTENCY_KEY",
                "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            ));
        }
        Ok(Some(Self(key.to_owned())))
    }

    /// Like [`Self::from_headers`], and the key is required.
    pub fn required(headers: &HeaderMap) -> Result<Self> {
        Self::from_headers(headers)?.ok_or(ApiError::Invalid(
            "INVALID_IDEMPOTENCY_KEY",
            "this endpoint requires an Idempotency-Key header".into(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The advisory-lock id of this key for `user_id`: concurrent requests with the same key
    /// serialize on it, and the loser learns at once that the first is still running.
    pub fn lock_id(&self, user_id: &str) -> i64 {
        let digest = Sha256::new()
            .chain_update(user_id.as_bytes())
            .chain_update([0])
            .chain_update(self.0.as_bytes())
            .finalize();
        i64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

/// What a stored response was for: the endpoint and the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash(pub Vec<u8>);

impl RequestHash {
    pub fn of(endpoint: &str, body: &impl serde::Serialize) -> Self {
        let body = serde_json::to_vec(body).unwrap_or_default();
        Self(
            Sha256::new()
                .chain_update(endpoint)
                .chain_update([0])
                .chain_update(body)
                .finalize()
                .to_vec(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", v.parse().unwrap());
        h
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(
            IdempotencyKey::from_headers(&HeaderMap::new()).unwrap(),
            None
        );
        assert!(IdempotencyKey::required(&HeaderMap::new()).is_err());
        assert!(IdempotencyKey::from_headers(&headers("abc-123"))
            .unwrap()
            .is_some());
        assert!(IdempotencyKey::from_headers(&headers(&"k".repeat(256))).is_err());
        assert!(IdempotencyKey::from_headers(&headers("a b")).is_err());
    }

    #[test]
    fn hashes_differ_by_endpoint_and_body() {
        let a = RequestHash::of("payment", &serde_json::json!({"r": 1}));
        assert_eq!(a, RequestHash::of("payment", &serde_json::json!({"r": 1})));
        assert_ne!(a, RequestHash::of("payment", &serde_json::json!({"r": 2})));
        assert_ne!(a, RequestHash::of("charge", &serde_json::json!({"r": 1})));
    }
}
