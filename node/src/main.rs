//! `wasp-node`: runs one native wasp plugin out of its host's process.
//!
//! A host starts one `wasp-node` per out-of-process plugin
//! (`HostBuilder::out_of_process`), reads the address it listens on from its
//! standard output, and connects to it with `ractor_cluster`. The node loads
//! the plugin library it is sent and runs it with the same native backend
//! the host would use in process (`wasp_runtime::NativeInstance`); every host
//! call the plugin makes is checked here against the grants the host sent,
//! then travels back to the host's broker. If the plugin crashes the
//! process, only this process ends. See `docs/distributed.md`.
//!
//! ```text
//! wasp-node --token <token> [--listen <ip:port>] [--watch-stdin]
//! ```
//!
//! A host starts its own nodes on loopback. A node for a host on another
//! machine is started by hand with the plugin's name as its token and an
//! address to listen on (`--listen 10.0.0.5:7000`), and the host is told
//! where it is (`HostBuilder::remote_node`); it then waits for its host,
//! and runs the plugin again after each restart.
//!
//! The cookie that authenticates the host comes from the `WASP_NODE_COOKIE`
//! environment variable. With `--watch-stdin` the node exits when its
//! standard input closes (its host is gone).

mod actor;
mod router;

use std::net::SocketAddr;
use std::process::ExitCode;

use ractor::Actor;
use tokio::io::AsyncReadExt;
use wasp_cluster::doorman::{Doorman, Inbound};
use wasp_cluster::wire;

use crate::actor::NodeActor;

struct Args {
    token: String,
    listen: SocketAddr,
    watch_stdin: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut token = None;
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut watch_stdin = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--token" => token = args.next(),
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address")?;
                listen = value.parse().map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "--watch-stdin" => watch_stdin = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let token = token.ok_or("--token is required")?;
    Ok(Args { token, listen, watch_stdin })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASP_LOG")
                .unwrap_or_else(|_| "warn,ractor_cluster=error".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasp-node: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    let cookie = std::env::var(wire::COOKIE_ENV).map_err(|_| format!("{} is not set", wire::COOKIE_ENV))?;
    let (actor, _) =
        Actor::spawn(None, NodeActor, ()).await.map_err(|e| format!("cannot start the node actor: {e}"))?;
    ractor::pg::join(wire::node_group(&args.token), vec![actor.get_cell()]);
    let addr = listen(&args, &cookie).await?;
    // The host reads this line to learn where to connect.
    println!("{}{addr}", wire::LISTENING);
    if args.watch_stdin {
        // The host holds the other end: when it goes, so does this node.
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
        std::process::exit(0);
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Starts the node server on `args.listen`. With port 0 the port is
/// chosen first (the node server does not report the one the system
/// picks), and chosen again if another process takes it meanwhile.
async fn listen(args: &Args, cookie: &str) -> Result<SocketAddr, String> {
    let mut last = String::new();
    for _ in 0..5 {
        let addr = if args.listen.port() == 0 {
            let probe = std::net::TcpListener::bind(args.listen)
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            probe.local_addr().map_err(|e| e.to_string())?
        } else {
            args.listen
        };
        let server = ractor_cluster::NodeServer::new(
            addr.port(),
            cookie.to_owned(),
            format!("wasp-node-{}", args.token),
            addr.ip().to_string(),
            None,
            None,
        )
        .with_listen_addr(addr.ip())
        .with_max_inbound_frame_size(wire::MAX_FRAME);
        match Actor::spawn(None, server, ()).await {
            Ok((server, _)) => {
                // Before anyone learns the address: one host, quickly authenticated.
                Doorman::guard(&server, Inbound::NODE);
                return Ok(addr);
            }
            Err(e) if args.listen.port() == 0 => last = e.to_string(),
            Err(e) => return Err(format!("cannot listen on {addr}: {e}")),
        }
    }
    Err(format!("cannot listen on {}: {last}", args.listen))
}
