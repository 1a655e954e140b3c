//! The CPU cost of verifying one identity token per algorithm (RS256, ES256, EdDSA), with
//! the verifier's cache bypassed (every token distinct), of a cached verification, and of
//! `jsonwebtoken::decode` on the same tokens (what the verifier called before it parsed each
//! part once).
//!
//!     cargo run --release -p shared --example verify_cost [iterations]
//!
//! The three are timed in turns over chunks of 50 tokens and each figure is the median over
//! the chunks, so that a neighbour busy for a while (this host's cores are shared) moves a
//! few chunks, not the figure.

use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use shared::{
    identity::{IdentityVerifier, JwksSource, Provider, DEV_AUDIENCE, DEV_ISSUER, LEEWAY_SECS},
    token::SigningKey,
};

const RSA: &str = include_str!("../tests/keys/rsa.pem");
const EC: &str = include_str!("../tests/keys/ec.pem");
const ISS: &str = "https://login.example.test/realms/fans";
const CHUNK: usize = 50;

#[derive(serde::Deserialize)]
struct Claims {
    #[allow(dead_code)]
    sub: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let jwks_text = include_str!("../tests/keys/jwks.json");
    let jwks = std::env::temp_dir().join(format!("verify-cost-{}.json", std::process::id()));
    std::fs::write(&jwks, jwks_text)?;
    let dev = SigningKey::generate();
    let provider = Provider {
        jwks: JwksSource::File(jwks.clone()),
        issuer: ISS.into(),
        audience: "ticketing".into(),
    };
    let verifier = IdentityVerifier::new(Some(provider), Some(dev.public_key().clone())).await?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks_text)?;
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let rsa = EncodingKey::from_rsa_pem(RSA.as_bytes())?;
    let ec = EncodingKey::from_ec_pem(EC.as_bytes())?;
    println!("| algorithm | µs per verification ({n} distinct tokens) | cached µs | jsonwebtoken::decode µs |");
    println!("| --- | --- | --- | --- |");
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (kid, iss, aud) = match alg {
            Algorithm::RS256 => ("rsa-1", ISS, "ticketing"),
            Algorithm::ES256 => ("ec-1", ISS, "ticketing"),
            _ => (dev.public_key().kid.as_str(), DEV_ISSUER, DEV_AUDIENCE),
        };
        let tokens: Vec<String> = (0..n)
            .map(|i| {
                let claims = serde_json::json!({"iss": iss, "aud": aud, "sub": format!("fan-{i}"), "exp": exp});
                match alg {
                    Algorithm::EdDSA => dev.sign_claims(&claims),
                    _ => {
                        let mut h = Header::new(alg);
                        h.kid = Some(kid.into());
                        let key = if alg == Algorithm::RS256 { &rsa } else { &ec };
                        jsonwebtoken::encode(&h, &claims, key)
                    }
                }
            })
            .collect::<Result<_, _>>()?;
        // What the verifier did before: the header, then `decode` with the key's validation.
        let key = match alg {
            Algorithm::EdDSA => DecodingKey::from_ed_components(&dev.public_key().x)?,
            _ => DecodingKey::from_jwk(set.find(kid).expect("the test key set has it"))?,
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[iss]);
        validation.set_audience(&[aud]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let (mut uncached, mut cached, mut decode) = (Vec::new(), Vec::new(), Vec::new());
        let per_token =
            |start: Instant, len: usize| start.elapsed().as_secs_f64() * 1e6 / len as f64;
        for (c, chunk) in tokens.chunks(CHUNK).enumerate() {
            let time_decode = |decode: &mut Vec<f64>| -> anyhow::Result<()> {
                let start = Instant::now();
                for t in chunk {
                    jsonwebtoken::decode_header(t)?;
                    jsonwebtoken::decode::<Claims>(t, &key, &validation)?;
                }
                decode.push(per_token(start, chunk.len()));
                Ok(())
            };
            if c % 2 == 0 {
                time_decode(&mut decode)?;
            }
            let start = Instant::now();
            for t in chunk {
                verifier.verify(t).await?;
            }
            uncached.push(per_token(start, chunk.len()));
            if c % 2 == 1 {
                time_decode(&mut decode)?;
            }
            let start = Instant::now();
            for t in chunk {
                verifier.verify(t).await?;
            }
            cached.push(per_token(start, chunk.len()));
        }
        println!(
            "| {alg:?} | {:.1} | {:.2} | {:.1} |",
            median(&mut uncached),
            median(&mut cached),
            median(&mut decode)
        );
    }
    let _ = std::fs::remove_file(jwks);
    Ok(())
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
