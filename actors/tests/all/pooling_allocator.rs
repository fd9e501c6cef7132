//! wasmtime's pooling allocator: a full pool never refuses a plugin, and
//! the limits hold for pooled and overflow instances alike.

use wasp_actors::{Host, Limits, Policy};
use wasp_protocol::ErrorCode;

use crate::common::{Form, load, mp};

fn host(pool: u32, max_memory: usize) -> Host {
    Host::builder()
        .limits(Limits { max_memory, ..Limits::default() })
        .policy(Policy::new().trust("*").expect("valid rule"))
        .pooling_allocator(pool)
        .no_module_cache()
        .build()
        .expect("host builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_plugins_than_pool_slots_still_load_and_answer() {
    let host = host(2, 64 << 20);
    assert_eq!(host.pooling_allocator(), Some(2));
    let names: Vec<String> = (0..5).map(|i| format!("echo{i}")).collect();
    for name in &names {
        load(&host, Form::Wasm, "echo", name).await;
    }
    for name in &names {
        let payload = mp(name.as_str());
        assert_eq!(host.request(name, "ping", payload.clone()).await.unwrap(), payload, "{name}");
    }
    // Freed slots are used again.
    host.unload("echo0").await.unwrap();
    host.unload("echo1").await.unwrap();
    load(&host, Form::Wasm, "echo", "again").await;
    assert_eq!(host.request("again", "ping", mp(&1)).await.unwrap(), mp(&1));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_memory_holds_in_the_pool_and_beyond_it() {
    let max_memory = 2 << 20;
    // One slot: `in-pool` takes it, `overflow` is allocated on demand.
    let host = host(1, max_memory);
    load(&host, Form::Wasm, "faulty", "in-pool").await;
    load(&host, Form::Wasm, "faulty", "overflow").await;
    for name in ["in-pool", "overflow"] {
        let held: u64 = host.call(name, "grow", &(256u64 << 10)).await.unwrap();
        assert_eq!(held, 256 << 10, "{name}");
        let err = host.request(name, "grow", mp(&(1u64 << 30))).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PluginCrashed, "{name}: {err}");
        assert!(err.message.contains("out of memory"), "{name}: {err}");
        // Recycled, and answering again.
        let pong: String = host.call(name, "ping", &()).await.unwrap();
        assert_eq!(pong, "pong", "{name}");
        let info = host.plugins().into_iter().find(|p| p.name == name).unwrap();
        assert!(info.memory_bytes as usize <= max_memory, "{info:?}");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_a_pool_allocates_on_demand() {
    let host = host(0, 64 << 20);
    assert_eq!(host.pooling_allocator(), None);
    load(&host, Form::Wasm, "echo", "echo").await;
    assert_eq!(host.request("echo", "ping", mp(&7)).await.unwrap(), mp(&7));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_host_has_a_pool() {
    let host = Host::builder().no_module_cache().build().unwrap();
    assert_eq!(host.pooling_allocator(), Some(1000));
    host.shutdown().await;
}
