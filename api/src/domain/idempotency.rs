//! The `Idempotency-Key` header, the hash of the request it protects, and the response
//! stored under it for replay.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode, Result};

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
            return Err(ApiError::invalid(
                ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Some(Self(key.to_owned())))
    }

    /// Like [`Self::from_headers`], and the key is required.
    pub fn required(headers: &HeaderMap) -> Result<Self> {
        Self::from_headers(headers)?.ok_or(ApiError::invalid(
            ErrorCode::InvalidIdempotencyKey,
            "this endpoint requires an Idempotency-Key header",
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

/// A response as stored under its key: what a request with the same key and body gets again.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// What a key was used for before.
#[derive(Debug, Clone, PartialEq)]
pub enum Prior {
    /// The same request: its stored response.
    Same(StoredResponse),
    /// A different request (another endpoint or body).
    Other,
}

impl Prior {
    /// The response stored under the key and its request hash, seen by a request of `hash`.
    pub fn of(stored_hash: &[u8], response: StoredResponse, hash: &RequestHash) -> Self {
        if stored_hash == hash.0 {
            Self::Same(response)
        } else {
            Self::Other
        }
    }

    /// The stored response to answer with again; 422 `IDEMPOTENCY_KEY_REUSED` when the key
    /// was used for another request.
    pub fn replay(self) -> Result<StoredResponse> {
        match self {
            Self::Same(response) => Ok(response),
            Self::Other => Err(ApiError::idempotency_key_reused()),
        }
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
