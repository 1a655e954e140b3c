//! The identifiers both binaries pass around, each validated once where it enters:
//! [`UserId`] (the token's `sub`), [`ConcertId`] (a path or body field, the token's `cid`)
//! and [`TicketId`] (a place's arrival sequence, the access token's `jti`).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A user id: 1 to 64 characters of `[A-Za-z0-9_-]`, so it is safe inside a Redis key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 64;

    /// The id, if `id` is a valid one.
    pub fn parse(id: &str) -> Result<Self, InvalidId> {
        let valid = (1..=Self::MAX_LEN).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidId(
                "a user id is 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        Self::parse(s)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for UserId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(Self::MAX_LEN))
            .pattern(Some("^[A-Za-z0-9_-]+$"))
            .into()
    }
}

impl utoipa::ToSchema for UserId {}

/// A concert id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ConcertId(i64);

impl ConcertId {
    pub fn new(id: i64) -> Result<Self, InvalidId> {
        if id >= 1 {
            Ok(Self(id))
        } else {
            Err(InvalidId("a concert id is a positive integer"))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ConcertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for ConcertId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ConcertId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for ConcertId {}

/// A ticket id: the arrival sequence of a place in line, kept by the session it turns into.
/// In an access token it is the `jti` claim, a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(u64);

impl TicketId {
    pub fn new(seq: u64) -> Self {
        Self(seq)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TicketId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        // Digits only: `u64::from_str` also takes a leading `+`, which Redis would not match.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidId("a ticket id is a decimal number"));
        }
        s.parse()
            .map(Self)
            .map_err(|_| InvalidId("a ticket id is a decimal number"))
    }
}

impl Serialize for TicketId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TicketId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl redis::ToRedisArgs for TicketId {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        self.0.write_redis_args(out)
    }
}

impl redis::ToRedisArgs for UserId {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        self.0.write_redis_args(out)
    }
}

impl redis::ToRedisArgs for ConcertId {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        self.0.write_redis_args(out)
    }
}

/// Why an identifier was refused; the message is safe to show to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_checked() {
        assert!(UserId::parse("user-1_A").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"a".repeat(65)).is_err());
        assert!(UserId::parse(&"a".repeat(64)).is_ok());
        assert!(UserId::parse("a b").is_err());
        assert!(UserId::parse("ü").is_err());
        assert!(UserId::parse("a:b").is_err());
        assert!(serde_json::from_str::<UserId>(r#""a:b""#).is_err());
    }

    #[test]
    fn concert_ids_are_positive() {
        assert!(ConcertId::new(1).is_ok());
        assert!(ConcertId::new(0).is_err());
        assert!(serde_json::from_str::<ConcertId>("-3").is_err());
        assert_eq!(serde_json::from_str::<ConcertId>("7").unwrap().get(), 7);
    }

    #[test]
    fn ticket_ids_travel_as_decimal_strings() {
        let t: TicketId = serde_json::from_str(r#""42""#).unwrap();
        assert_eq!(t, TicketId::new(42));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""42""#);
        assert!("+42".parse::<TicketId>().is_err());
        assert!("".parse::<TicketId>().is_err());
        assert!("4a".parse::<TicketId>().is_err());
    }
}
