//! Open-model join latency for `scripts/bench`: joins are due at a fixed rate whatever the
//! server does, and each is measured from the moment it was due, so a stall counts against
//! every request it delays (no coordinated omission, as in wrk2).
//!
//! The generator shares the two cores with the server it measures, so it is one thread that
//! wakes only on its own clock: every `PACE` it reads the answers that have arrived (epoll
//! without waiting), then sends the requests due by then, each on one of `CONNECTIONS`
//! keep-alive connections (round robin), as plain HTTP/1.1. A connection still busy with an
//! earlier request sends the next one at the first tick after its answer, and that request's
//! latency includes the wait. An answer is timed by the tick that reads it, so up to one
//! `PACE` (and the sleep's overshoot) late: the error counts against the server, never for
//! it. Waking only on its clock (no thread handing requests to another, no wake-up per
//! answer) costs less CPU per request than the pacer thread feeding a Tokio runtime that it
//! replaced, on hosts where every wake-up is expensive.
//!
//! With `live` as a fifth argument it sends `GET /health/live` at the same rate instead (the
//! same connections, pacing and generator, a request that does no work): the tail the host
//! and the HTTP path give at that rate, against which a join's tail can be read.
//!
//! Each join signs in as its own fan: the `Authorization: Bearer` of request n is line n of
//! the file `TOKENS` names (a distinct identity token per join, as in a real storm; it must
//! hold a line per request), and the body names only the concert.
//!
//! `join_latency <gateway url> <concert id> <rate per second> <seconds> [joins|live]`; prints
//! one JSON line. Env: `CONNECTIONS` (64), `TOKENS` (the identity tokens, for joins).
//!
//! `join_latency mint <rs256|es256|eddsa> <count> <file>` writes `count` identity tokens of
//! distinct fans to `file`, one a line, signed ahead of a run so that signing costs the run
//! nothing: RS256 with `shared/tests/keys/rsa.pem` (kid `rsa-1` of `shared/tests/keys/jwks.json`)
//! or ES256 with `shared/tests/keys/ec.pem` (kid `ec-1`), iss [`BENCH_ISSUER`], aud
//! [`BENCH_AUDIENCE`] (a gateway with `IDENTITY_JWKS_FILE` at that file and those
//! `IDENTITY_ISSUER` / `IDENTITY_AUDIENCE` trusts them); or EdDSA with the development login's
//! key in `KEYS_DIR` (a gateway with `DEV_LOGIN=1` trusts them).

use std::{
    collections::VecDeque,
    io::{ErrorKind, Read, Write},
    net::ToSocketAddrs,
    time::{Duration, Instant},
};

use anyhow::Context;
use mio::{net::TcpStream, Events, Interest, Poll, Token};

/// How often the generator wakes at most: fine enough that sending late and timing an answer
/// late add little to a latency, coarse enough that waking costs the generator little.
const PACE: Duration = Duration::from_micros(100);

/// `iss` and `aud` of the RS256 tokens that `mint` signs.
const BENCH_ISSUER: &str = "https://login.bench.test/realms/fans";
const BENCH_AUDIENCE: &str = "ticketing";

/// How long the answers still out may take once every request has been sent.
const DRAIN: Duration = Duration::from_secs(30);

/// What each request is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `POST /api/v1/queue/tokens` of a new user; answered 201.
    Joins,
    /// `GET /health/live`; answered 200.
    Live,
}

/// One keep-alive connection: at most one request on the wire, the others due wait their turn.
struct Lane {
    stream: TcpStream,
    /// Requests due (by number) and not yet sent, oldest first.
    waiting: VecDeque<u64>,
    /// The request sent and not yet answered.
    sent: Option<u64>,
    /// The request on the wire, and how much of it the socket has taken.
    out: Vec<u8>,
    written: usize,
    /// Bytes of the answer read so far.
    answer: Vec<u8>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("mint") {
        return mint(&args[2..]);
    }
    let target = match args.get(5).map(String::as_str) {
        None | Some("joins") => Target::Joins,
        Some("live") => Target::Live,
        Some(other) => anyhow::bail!("unknown target {other:?}: joins or live"),
    };
    anyhow::ensure!(
        (5..=6).contains(&args.len()),
        "usage: join_latency <gateway url> <concert id> <rate> <seconds> [joins|live]"
    );
    let (url, concert, rate, secs): (String, i64, u64, u64) = (
        args[1].clone(),
        args[2].parse()?,
        args[3].parse()?,
        args[4].parse()?,
    );
    anyhow::ensure!(rate > 0 && secs > 0, "rate and seconds must be positive");
    let connections: usize = std::env::var("CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(64);
    let host = url
        .strip_prefix("http://")
        .context("the gateway url must be http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let addr = host
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let tokens: Vec<String> = match target {
        Target::Live => Vec::new(),
        Target::Joins => {
            let path = std::env::var("TOKENS").context("TOKENS: the file of identity tokens")?;
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            let tokens: Vec<String> = text.lines().map(str::to_owned).collect();
            anyhow::ensure!(
                tokens.len() as u64 >= rate * secs,
                "{path} holds {} tokens, {} joins need one each",
                tokens.len(),
                rate * secs
            );
            tokens
        }
    };
    // Writes request `user` into a lane's (reused) buffer; the live request is the same every time.
    let live = format!("GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let body = format!(r#"{{"concertId":{concert}}}"#);
    let request = |user: u64, out: &mut Vec<u8>| match target {
        Target::Live => out.extend_from_slice(live.as_bytes()),
        Target::Joins => {
            let _ = write!(
                out,
                "POST /api/v1/queue/tokens HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                tokens[user as usize],
                body.len()
            );
        }
    };
    let expected = if target == Target::Live { 200 } else { 201 };

    let mut poll = Poll::new()?;
    let mut lanes = Vec::with_capacity(connections);
    for i in 0..connections {
        let std_stream =
            std::net::TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        std_stream.set_nodelay(true)?;
        std_stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        lanes.push(Lane {
            stream,
            waiting: VecDeque::new(),
            sent: None,
            out: Vec::with_capacity(256),
            written: 0,
            answer: Vec::with_capacity(1024),
        });
    }

    // Request n is due at start + n / rate; each tick hands out those due by then.
    let total = rate * secs;
    let start = Instant::now();
    let due_at = |n: u64| start + Duration::from_nanos(n * 1_000_000_000 / rate);
    let mut latencies = Vec::with_capacity(total as usize);
    let mut failed = 0u64;
    let mut next = 0u64;
    let mut events = Events::with_capacity(connections);
    let mut all_sent_at = None;
    while (latencies.len() as u64) < total {
        poll.poll(&mut events, Some(Duration::ZERO))?;
        for event in events.iter() {
            let lane = &mut lanes[event.token().0];
            if let Some(status) = lane.read_answer()? {
                let user = lane.sent.take().context("an answer nobody asked for")?;
                latencies.push(due_at(user).elapsed().as_secs_f64() * 1000.0);
                failed += u64::from(status != expected);
            }
        }
        let due_by =
            ((start.elapsed().as_nanos() * u128::from(rate) / 1_000_000_000) as u64 + 1).min(total);
        for user in next..due_by {
            lanes[(user % connections as u64) as usize]
                .waiting
                .push_back(user);
        }
        next = due_by;
        for lane in &mut lanes {
            lane.send_next(&request)?;
        }
        if next == total {
            let since = *all_sent_at.get_or_insert_with(Instant::now);
            anyhow::ensure!(
                since.elapsed() < DRAIN,
                "{} requests unanswered {DRAIN:?} after the last was due",
                total - latencies.len() as u64
            );
        }
        // Every PACE whatever the rate, so answers are timed equally finely at every rate.
        std::thread::sleep(PACE);
    }

    let achieved = latencies.len() as f64 / start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ms = |v: f64| (v * 100.0).round() / 100.0;
    println!(
        "{}",
        serde_json::json!({
            "target": if target == Target::Live { "live" } else { "joins" },
            "rate": rate, "achievedRate": achieved.round(), "requests": total, "failed": failed,
            "connections": connections,
            "p50Ms": ms(q(0.50)), "p90Ms": ms(q(0.90)), "p99Ms": ms(q(0.99)),
            "p999Ms": ms(q(0.999)), "maxMs": ms(q(1.0)),
        })
    );
    Ok(())
}

/// `mint <rs256|es256|eddsa> <count> <file>`: identity tokens of `count` distinct fans, signed
/// on every core.
fn mint(args: &[String]) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.len() == 3,
        "usage: join_latency mint <rs256|es256|eddsa> <count> <file>"
    );
    let count: usize = args[1].parse()?;
    let tag: u32 = rand::random();
    let now = jsonwebtoken::get_current_timestamp();
    let sign: Box<dyn Fn(usize) -> anyhow::Result<String> + Sync> = match args[0].as_str() {
        alg @ ("rs256" | "es256") => {
            use jsonwebtoken::{Algorithm, EncodingKey, Header};
            let (key, mut header) = if alg == "rs256" {
                let pem = include_str!("../../shared/tests/keys/rsa.pem");
                (
                    EncodingKey::from_rsa_pem(pem.as_bytes())?,
                    Header::new(Algorithm::RS256),
                )
            } else {
                let pem = include_str!("../../shared/tests/keys/ec.pem");
                (
                    EncodingKey::from_ec_pem(pem.as_bytes())?,
                    Header::new(Algorithm::ES256),
                )
            };
            header.kid = Some(if alg == "rs256" { "rsa-1" } else { "ec-1" }.into());
            Box::new(move |i| {
                let claims = serde_json::json!({
                    "iss": BENCH_ISSUER, "aud": BENCH_AUDIENCE, "sub": format!("{alg}-{tag}-{i}"),
                    "iat": now, "exp": now + 3600,
                });
                Ok(jsonwebtoken::encode(&header, &claims, &key)?)
            })
        }
        "eddsa" => {
            let dir = std::env::var("KEYS_DIR").unwrap_or_else(|_| ".data/keys".into());
            let key = shared::token::dev_identity_key_pair(dir.as_ref())?;
            Box::new(move |i| {
                let user = shared::ids::UserId::parse(&format!("ed{tag}-{i}"))?;
                Ok(shared::identity::dev_login_token(&key, &user, 3600)?.0)
            })
        }
        other => anyhow::bail!("unknown algorithm {other:?}: rs256, es256 or eddsa"),
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parts: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let sign = &sign;
                scope.spawn(move || (t..count).step_by(threads).map(sign).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a signing thread panicked"))
            .collect::<anyhow::Result<_>>()
    })?;
    let mut out = String::with_capacity(count * 400);
    for i in 0..count {
        out.push_str(&parts[i % threads][i / threads]);
        out.push('\n');
    }
    std::fs::write(&args[2], out).with_context(|| format!("writing {}", args[2]))?;
    Ok(())
}

impl Lane {
    /// Sends the oldest waiting request if nothing is on the wire, and whatever of it the
    /// socket did not take at the last try.
    fn send_next(&mut self, request: &impl Fn(u64, &mut Vec<u8>)) -> anyhow::Result<()> {
        if self.sent.is_none() {
            let Some(user) = self.waiting.pop_front() else {
                return Ok(());
            };
            self.sent = Some(user);
            self.out.clear();
            self.written = 0;
            request(user, &mut self.out);
        }
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => anyhow::bail!("the connection closed"),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break, // the next tick goes on
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads everything the socket has (its readiness is edge-triggered) and returns the
    /// status of the answer once it is complete (one request is on the wire at most).
    fn read_answer(&mut self) -> anyhow::Result<Option<u16>> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => anyhow::bail!("the server closed a connection"),
                Ok(n) => self.answer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Some((status, len)) = parse_response(&self.answer)? else {
            return Ok(None);
        };
        anyhow::ensure!(
            len == self.answer.len(),
            "bytes past the answer to the one request sent"
        );
        self.answer.clear();
        Ok(Some(status))
    }
}

/// One complete HTTP/1.1 response with a `Content-Length` body at the start of `buf`: its
/// status code and length; `None` while it is incomplete.
fn parse_response(buf: &[u8]) -> anyhow::Result<Option<(u16, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("response head")?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .context("content-length")?;
    let len = end + 4 + length;
    Ok((buf.len() >= len).then_some((status, len)))
}
