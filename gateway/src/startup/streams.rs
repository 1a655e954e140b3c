//! The event streams' own HTTP/1.1 loop: a stream held through hyper costs its connection
//! hyper's two 8 KiB buffers and a connection task for as long as it is open, which is most of
//! what a stream costs the gateway; a stream held here costs a task and the socket.
//!
//! [`StreamListener`] accepts the connections and reads each one's first request head into a
//! small buffer. A plain `GET /api/v1/queue/events` (HTTP/1.1, no body, no upgrade, nothing sent
//! after the head) whose queue token opens is served here: the request goes through the same
//! router and layers as any other (extractors, metrics, request log, timeout, load shedding),
//! and this loop writes the response and drives its body, with no buffer kept between events.
//! Everything else (another request, a stream refused, a head it cannot read, a head too large
//! for its buffer) is handed to axum as the connection it is, the bytes already read replayed
//! first, so it is answered exactly as before. After a stream served here ends, its connection
//! is handed to axum too, for the requests that follow on it. Requests pipelined behind a
//! stream are not served: a stream holds its connection.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{ConnectInfo, Query},
    http::{header, response, HeaderName, HeaderValue, Method, Request, Response, Uri, Version},
    Router,
};
use futures::{FutureExt, StreamExt};
use serde::Deserialize;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::state::AppState;

/// The one request this loop serves itself.
const EVENTS_PATH: &str = "/api/v1/queue/events";

/// What the loop reads of a first request head before it leaves the connection to hyper (which
/// takes heads of any size it allows): a stream's head is a few hundred bytes.
const HEAD_LIMIT: usize = 8 * 1024;

/// The head buffer's first size; it grows (up to [`HEAD_LIMIT`]) only for a longer head.
const HEAD_FIRST: usize = 1024;

/// Headers a stream's head may have (more: hyper reads it, up to its own limit of 100).
const MAX_HEADERS: usize = 32;

/// A connection for axum: what was read of it already, then the socket.
pub struct Conn {
    replay: Vec<u8>,
    at: usize,
    tcp: TcpStream,
}

impl Conn {
    fn replaying(replay: Vec<u8>, tcp: TcpStream) -> Self {
        Self { replay, at: 0, tcp }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.replay.len() {
            let n = buf.remaining().min(this.replay.len() - this.at);
            buf.put_slice(&this.replay[this.at..this.at + n]);
            this.at += n;
            if this.at == this.replay.len() {
                // Replayed: the connection keeps no buffer of its own from here on.
                this.replay = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// What every connection's first-request task shares.
struct Server {
    app: Router,
    state: AppState,
    stop: CancellationToken,
    to_axum: mpsc::UnboundedSender<(Conn, SocketAddr)>,
}

impl Server {
    /// Gives the connection to axum; dropped (closed) once axum takes no more (stopping).
    fn hand_off(&self, conn: Conn, addr: SocketAddr) {
        let _ = self.to_axum.send((conn, addr));
    }
}

/// The listener axum serves: the connections the stream loop leaves to it.
pub struct StreamListener {
    tcp: TcpListener,
    server: Arc<Server>,
    handed: mpsc::UnboundedReceiver<(Conn, SocketAddr)>,
    /// After an accept error other than a client's (out of file descriptors): when to accept
    /// again. Connections being handed over meanwhile still reach axum.
    paused_until: Option<tokio::time::Instant>,
}

impl StreamListener {
    /// Serves the event streams on `tcp` through `app` (the whole router with its layers).
    pub fn new(tcp: TcpListener, app: Router, state: AppState, stop: CancellationToken) -> Self {
        let (to_axum, handed) = mpsc::unbounded_channel();
        Self {
            tcp,
            server: Arc::new(Server {
                app,
                state,
                stop,
                to_axum,
            }),
            handed,
            paused_until: None,
        }
    }
}

impl axum::serve::Listener for StreamListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            let paused = self.paused_until;
            tokio::select! {
                Some(conn) = self.handed.recv() => return conn,
                accepted = self.tcp.accept(), if paused.is_none() => match accepted {
                    Ok((tcp, addr)) => {
                        tokio::spawn(first_request(tcp, addr, self.server.clone()));
                    }
                    Err(e) if is_connection_error(&e) => {}
                    Err(e) => {
                        // As axum's own loop does: most likely out of file descriptors.
                        tracing::error!(error = %e, "accept error");
                        self.paused_until =
                            Some(tokio::time::Instant::now() + Duration::from_secs(1));
                    }
                },
                _ = tokio::time::sleep_until(paused.unwrap_or_else(tokio::time::Instant::now)),
                    if paused.is_some() => self.paused_until = None,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection's first request: a stream served here, or the connection handed to axum.
async fn first_request(tcp: TcpStream, addr: SocketAddr, server: Arc<Server>) {
    // Small responses leave at once (no Nagle wait for the previous segment's ACK).
    let _ = tcp.set_nodelay(true);
    let mut buf = Vec::new();
    let request = loop {
        match read_more(&tcp, &mut buf).await {
            Ok(0) | Err(_) if buf.is_empty() => return,
            // Hyper answers a cut head as it always has.
            Ok(0) => break None,
            Err(_) => return,
            Ok(_) => {}
        }
        match read_head(&buf, &server.state) {
            Head::Incomplete if buf.len() < HEAD_LIMIT => {}
            Head::Incomplete | Head::Other => break None,
            Head::Stream(request) => break Some(request),
        }
    };
    match request {
        None => server.hand_off(Conn::replaying(buf, tcp), addr),
        Some(request) => {
            drop(buf);
            let mut request = *request;
            request.extensions_mut().insert(ConnectInfo(addr));
            let _held = server.state.live.hold_direct();
            // Boxed: the router's future is large, and the task would keep room for it for
            // the stream's whole life.
            let response = Box::pin(server.app.clone().oneshot(request))
                .await
                .unwrap_or_else(|e: Infallible| match e {});
            let complete = respond(&tcp, response, &server.stop).await;
            if complete && !server.stop.is_cancelled() {
                server.hand_off(Conn::replaying(Vec::new(), tcp), addr);
            }
        }
    }
}

/// Reads what the socket has into `buf`'s spare room, growing it (up to [`HEAD_LIMIT`]) when
/// full; 0 at the end of the stream. No room is taken before the client sends something.
async fn read_more(tcp: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        tcp.readable().await?;
        if buf.len() == buf.capacity() {
            let grow = buf.capacity().max(HEAD_FIRST);
            buf.reserve_exact(grow.min(HEAD_LIMIT - buf.len()));
        }
        match tcp.try_read_buf(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

enum Head {
    /// More bytes are needed.
    Incomplete,
    /// Not a stream this loop serves: axum's.
    Other,
    /// A stream request whose token opens.
    Stream(Box<Request<Body>>),
}

/// What the first request head in `buf` is.
fn read_head(buf: &[u8], state: &AppState) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            // Anything but a stream is axum's at once, before its head is whole.
            let start = b"GET /api/v1/queue/events";
            let n = buf.len().min(start.len());
            return if buf[..n] == start[..n] {
                Head::Incomplete
            } else {
                Head::Other
            };
        }
        Err(_) => return Head::Other,
    };
    let is_stream_path = parsed.path.is_some_and(|p| {
        p.strip_prefix(EVENTS_PATH)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('?'))
    });
    // Bytes after the head (a body, a pipelined request) are hyper's to read.
    if parsed.method != Some("GET")
        || parsed.version != Some(1)
        || !is_stream_path
        || len != buf.len()
    {
        return Head::Other;
    }
    match stream_request(&parsed, state) {
        Some(request) => Head::Stream(Box::new(request)),
        None => Head::Other,
    }
}

/// The queue token of a stream request's query, parsed as the route's extractor parses it.
#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The request of a parsed head, when it is a plain stream request whose token opens (the
/// route's rule: the bearer, else `?token=`).
fn stream_request(parsed: &httparse::Request<'_, '_>, state: &AppState) -> Option<Request<Body>> {
    let uri: Uri = parsed.path?.parse().ok()?;
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .version(Version::HTTP_11);
    for h in parsed.headers.iter() {
        request = request.header(
            HeaderName::from_bytes(h.name.as_bytes()).ok()?,
            HeaderValue::from_bytes(h.value).ok()?,
        );
    }
    let request = request.body(Body::empty()).ok()?;
    let headers = request.headers();
    // A body, an upgrade or a close change how hyper serves the connection: left to it.
    let plain = !headers.contains_key(header::TRANSFER_ENCODING)
        && !headers.contains_key(header::EXPECT)
        && !headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .all(|v| v.as_bytes() == b"0")
        && !headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes().split(|b| *b == b',').any(|t| {
                let t = t.trim_ascii();
                t.eq_ignore_ascii_case(b"close") || t.eq_ignore_ascii_case(b"upgrade")
            })
        });
    if !plain {
        return None;
    }
    let (parts, body) = request.into_parts();
    let query = Query::<TokenQuery>::try_from_uri(&parts.uri).ok()?.0;
    let token = shared::http::bearer_token(&parts).or(query.token.as_deref())?;
    state.room.open_queue_token(token)?;
    Some(Request::from_parts(parts, body))
}

/// Writes `response` as hyper would (chunked when its length is unknown) and drives its body
/// until it ends (true), or until the client goes, sends more, or the body fails (false: the
/// connection is closed).
async fn respond(tcp: &TcpStream, response: Response<Body>, stop: &CancellationToken) -> bool {
    // Scoped: the response's headers are freed before the stream waits.
    let (mut out, chunked, mut data) = {
        let (parts, body) = response.into_parts();
        let length = body.size_hint().exact();
        let head = response_head(&parts, length);
        (head, length.is_none(), body.into_data_stream())
    };
    loop {
        let next = if out.is_empty() {
            tokio::select! {
                next = data.next() => next,
                () = client_gone(tcp) => return false,
            }
        } else {
            // What the body has ready joins the bytes waiting (the head and the first event
            // leave together); then they are written, and no buffer is kept while it waits.
            match data.next().now_or_never() {
                Some(next) => next,
                None => {
                    if write_all(tcp, &out, stop).await.is_err() {
                        return false;
                    }
                    out = Vec::new();
                    continue;
                }
            }
        };
        match next {
            Some(Ok(bytes)) => frame(&mut out, &bytes, chunked),
            // As hyper does: the connection is cut, with no last chunk.
            Some(Err(_)) => return false,
            None => {
                if chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                return write_all(tcp, &out, stop).await.is_ok();
            }
        }
    }
}

/// The status line and headers, in hyper's order: the response's headers, the length or
/// `transfer-encoding: chunked`, the date.
fn response_head(parts: &response::Parts, length: Option<u64>) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    let status = parts.status;
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::CONTENT_LENGTH) {
        match length {
            Some(n) => head.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
            None => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        }
    }
    if !parts.headers.contains_key(header::DATE) {
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        head.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Appends one body frame, as a chunk when chunked.
fn frame(out: &mut Vec<u8>, bytes: &Bytes, chunked: bool) {
    if bytes.is_empty() {
        return;
    }
    if chunked {
        out.extend_from_slice(format!("{:X}\r\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Writes `bytes` whole; gives up at the stop when the client does not read.
async fn write_all(tcp: &TcpStream, mut bytes: &[u8], stop: &CancellationToken) -> io::Result<()> {
    while !bytes.is_empty() {
        match tcp.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::select! {
                    ready = tcp.writable() => ready?,
                    () = stop.cancelled() => return Err(io::ErrorKind::Interrupted.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Resolves when the client closes its side, the connection fails, or the client sends
/// anything (a stream takes no further request on its connection).
async fn client_gone(tcp: &TcpStream) {
    loop {
        if tcp.readable().await.is_err() {
            return;
        }
        let mut probe = [0u8; 16];
        match tcp.try_read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            _ => return,
        }
    }
}
