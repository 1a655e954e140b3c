//! One server per core: a thread per server, each a single-threaded Tokio runtime serving
//! its own listener on the shared port (`SO_REUSEPORT`: the kernel spreads connections over
//! them). A request, its Redis and Postgres round trips and its reply stay on one thread, so
//! requests do not wait on cross-thread wake-ups, which a multi-threaded runtime pays on
//! every reply from a connection driven by another worker. Both binaries run this way; what
//! each server owns (its own Redis and Postgres connections) is the binary's business.

use std::{future::Future, net::SocketAddr};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// The default number of servers: one per core the process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Binds `threads` listeners (at least one) to `addr`; port 0 picks one free port for all.
pub fn bind(addr: SocketAddr, threads: usize) -> anyhow::Result<Vec<std::net::TcpListener>> {
    let first = reuse_port_listener(addr).with_context(|| format!("binding {addr}"))?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads.max(1) {
        listeners.push(reuse_port_listener(addr).with_context(|| format!("binding {addr}"))?);
    }
    Ok(listeners)
}

/// A listener that shares its port with the others of this process (`SO_REUSEPORT`: Linux
/// lets only sockets of the same user join, and spreads connections across them). A second
/// process started by the same user on the same port therefore shares the connections rather
/// than failing with "address in use".
pub fn reuse_port_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Runs `serve(i, listener, stop)` for every listener, each on a thread named `{name}-{i}`
/// with a single-threaded runtime of its own, until `stop` is cancelled; one server ending
/// (failing, even panicking) stops the others. With `on_signal`, SIGTERM or Ctrl-C cancels
/// `stop`. Blocks the calling thread until every server has returned.
pub fn run<F, Fut>(
    name: &str,
    listeners: Vec<std::net::TcpListener>,
    stop: CancellationToken,
    on_signal: bool,
    serve: F,
) -> anyhow::Result<()>
where
    F: Fn(usize, tokio::net::TcpListener, CancellationToken) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut started = Vec::new();
    let mut result = Ok(());
    for (i, listener) in listeners.into_iter().enumerate() {
        let (serve, thread_stop) = (serve.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let stop = thread_stop;
                let _stop_all = stop.clone().drop_guard();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    if on_signal && i == 0 {
                        let (signal, stop) = (crate::shutdown::on_signal(), stop.clone());
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = signal.cancelled() => stop.cancel(),
                                _ = stop.cancelled() => {}
                            }
                        });
                    }
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serve(i, listener, stop).await
                })
            })
            .context("starting a server thread");
        match thread {
            Ok(thread) => started.push(thread),
            Err(e) => {
                stop.cancel();
                result = Err(e);
                break;
            }
        }
    }
    for (i, thread) in started.into_iter().enumerate() {
        let outcome = thread
            .join()
            .map_err(|_| anyhow::anyhow!("server thread {i} panicked"))
            .and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(thread = i, error = %e, "server failed");
            result = result.and(Err(e));
        }
    }
    stop.cancel();
    result
}
