//! The CPU cost of verifying one identity token per algorithm (RS256, ES256, EdDSA), with
//! the verifier's cache bypassed (every token distinct), and of a cached verification.
//!
//!     cargo run --release -p shared --example verify_cost [iterations]

use std::time::Instant;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use shared::{
    identity::{IdentityVerifier, JwksSource, Provider, DEV_AUDIENCE, DEV_ISSUER},
    token::SigningKey,
};

const RSA: &str = include_str!("../tests/keys/rsa.pem");
const EC: &str = include_str!("../tests/keys/ec.pem");
const ISS: &str = "https://login.example.test/realms/fans";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let jwks = std::env::temp_dir().join(format!("verify-cost-{}.json", std::process::id()));
    std::fs::write(&jwks, include_str!("../tests/keys/jwks.json"))?;
    let dev = SigningKey::generate();
    let provider = Provider {
        jwks: JwksSource::File(jwks.clone()),
        issuer: ISS.into(),
        audience: "ticketing".into(),
    };
    let verifier = IdentityVerifier::new(Some(provider), Some(dev.public_key().clone())).await?;
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let rsa = EncodingKey::from_rsa_pem(RSA.as_bytes())?;
    let ec = EncodingKey::from_ec_pem(EC.as_bytes())?;
    println!("| algorithm | µs per verification ({n} distinct tokens) |");
    println!("| --- | --- |");
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let tokens: Vec<String> = (0..n)
            .map(|i| {
                let sub = format!("fan-{i}");
                match alg {
                    Algorithm::EdDSA => dev.sign_claims(&serde_json::json!({
                        "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": sub, "exp": exp})),
                    _ => {
                        let mut h = Header::new(alg);
                        h.kid = Some(
                            if alg == Algorithm::RS256 {
                                "rsa-1"
                            } else {
                                "ec-1"
                            }
                            .into(),
                        );
                        let key = if alg == Algorithm::RS256 { &rsa } else { &ec };
                        jsonwebtoken::encode(
                            &h,
                            &serde_json::json!({
                            "iss": ISS, "aud": "ticketing", "sub": sub, "exp": exp}),
                            key,
                        )
                    }
                }
            })
            .collect::<Result<_, _>>()?;
        let start = Instant::now();
        for t in &tokens {
            verifier.verify(t).await?;
        }
        let uncached = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        let start = Instant::now();
        for t in &tokens {
            verifier.verify(t).await?;
        }
        let cached = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("| {alg:?} | {uncached:.1} (cached again: {cached:.2}) |");
    }
    let _ = std::fs::remove_file(jwks);
    Ok(())
}
