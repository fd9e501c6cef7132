//! reqwest's blocking client and rand's generators, and what must be left alone.

use super::*;

/// A plugin whose `on_message` answers `go(&self.client)`'s result, and whose client `new` makes.
fn client_plugin(build: &str, fetch: &str) -> String {
    format!(
        "use reqwest::blocking::Client;\nuse wasp_sdk::prelude::*;\n\npub struct P {{\n    client: Client,\n}}\n\n\
         impl P {{\n    pub fn new() -> Self {{\n        Self {{ client: {build} }}\n    }}\n}}\n\n\
         fn go(client: &Client) -> Result<String, reqwest::Error> {{\n    {fetch}\n}}\n\n\
         impl Plugin for P {{\n    \
         fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {{\n        \
         match msg.topic {{\n            \"go\" => Reply::encode(&go(&self.client).map_err(|e| e.to_string())),\n            \
         _ => Err(WireError::new(ErrorCode::NotFound, \"no\")),\n        }}\n    }}\n}}\n"
    )
}

#[test]
fn reqwest_blocking_get_is_made_by_the_host() {
    let port = ported(&plugin(
        "fn go() -> Result<String, String> {\n    \
         let body = reqwest::blocking::get(\"https://api.example.com/v1/now\")\n        \
         .and_then(|r| r.error_for_status())\n        .map_err(|e| e.to_string())?;\n    \
         body.text().map_err(|e: reqwest::Error| e.to_string())\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("crate::wasp_port::reqwest::blocking::get(\"https://api.example.com/v1/now\", ctx)"), "{lib}");
    assert!(lib.contains("|e: crate::wasp_port::reqwest::Error|"), "the types keep their names: {lib}");
    assert!(lib.contains("fn go(ctx: &mut wasp_sdk::Context<'_>) -> Result<String, String> {"), "{lib}");
    assert!(port.markers.is_empty(), "{port}");
    assert_eq!(port.permissions, ["net:api.example.com"]);
    assert!(!file(&port, "Cargo.toml").contains("reqwest"), "{}", file(&port, "Cargo.toml"));
    assert!(file(&port, "src/wasp_port.rs").contains("pub(crate) mod reqwest {"));
}

#[test]
fn a_reqwest_client_is_built_as_before_and_sends_through_the_host() {
    let src = client_plugin(
        "Client::builder()\n            .timeout(std::time::Duration::from_secs(10))\n            \
         .user_agent(\"demo/1\")\n            .build()\n            .expect(\"a client\")",
        "let resp = client\n        .get(format!(\"https://wttr.in/{}\", \"Paris\"))\n        \
         .query(&[(\"format\", \"j1\")])\n        .send()?;\n    \
         if !resp.status().is_success() {\n        return Ok(String::new());\n    }\n    \
         let v: serde_json::Value = resp.json()?;\n    Ok(v.to_string())",
    );
    let port = ported(&src);
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("use crate::wasp_port::reqwest::blocking::Client;"), "{lib}");
    assert!(lib.contains("Self { client: Client::builder()\n            .timeout("), "built as before: {lib}");
    assert!(lib.contains("        .send(ctx)?;"), "{lib}");
    assert!(lib.contains("fn go(client: &Client, ctx: &mut wasp_sdk::Context<'_>)"), "{lib}");
    assert!(lib.contains("Reply::encode(&go(&self.client, ctx)"), "{lib}");
    assert_eq!(port.permissions, ["net:wttr.in"]);
    assert!(port.markers.is_empty(), "{port}");
    let shim = file(&port, "src/wasp_port.rs");
    assert!(shim.contains("pub(crate) fn json<T: serde::de::DeserializeOwned>"), "{shim}");
    let cargo = file(&port, "Cargo.toml");
    assert!(cargo.contains("serde_json = \"1\""), "reqwest's JSON needs serde_json now: {cargo}");
    assert!(!cargo.contains("reqwest"), "{cargo}");
}

#[test]
fn reqwest_with_what_the_host_cannot_do_is_left_whole_with_a_marker() {
    for (build, fetch, why) in [
        (
            "Client::builder().cookie_store(true).build().expect(\"a client\")",
            "client.get(\"https://example.com\").send()?.text()",
            "`.cookie_store(…)` (src/lib.rs:10) has no host equivalent in the port",
        ),
        (
            "Client::new()",
            "client.post(\"https://example.com/up\").multipart(form()).send()?.text()",
            "`.multipart(…)` (src/lib.rs:15) has no host equivalent in the port",
        ),
        (
            "Client::new()",
            "let _ = reqwest::header::CONTENT_TYPE;\n    client.get(\"https://example.com\").send()?.text()",
            "`reqwest::header::CONTENT_TYPE` (src/lib.rs:15) has no host equivalent",
        ),
    ] {
        let src = client_plugin(build, fetch);
        let port = ported(&src);
        let lib = file(&port, "src/lib.rs");
        assert!(port.rewrites.is_empty(), "{port}");
        assert!(lib.contains("        // wasp port: reqwest::blocking::Client::"), "{lib}");
        assert!(lib.contains(why), "{why}:\n{lib}");
        assert!(lib.contains("keep the HTTP part native in a hybrid plugin"), "{lib}");
        assert!(lib.contains(".send()?"), "the code is as it was: {lib}");
        assert!(!lib.contains("wasp_port"), "{lib}");
        assert!(port.needs_decisions());
        assert!(port.notes.iter().any(|n| n.starts_with("reqwest left as it was: ")), "{port}");
        assert!(file(&port, "Cargo.toml").contains("reqwest"), "reqwest stays");
    }
}

#[test]
fn reqwest_where_no_context_reaches_is_left_whole() {
    let src = client_plugin("Client::new()", "client.get(\"https://example.com\").send()?.text()").replace(
        "impl Plugin for P {",
        "impl Default for P {\n    fn default() -> Self {\n        \
         let _ = reqwest::blocking::get(\"https://example.com/hello\");\n        Self::new()\n    }\n}\n\nimpl Plugin for P {",
    );
    let port = ported(&src);
    let lib = file(&port, "src/lib.rs");
    assert!(port.rewrites.is_empty(), "{port}");
    assert!(lib.contains("is where no `Context` reaches"), "{lib}");
    assert!(lib.contains("client.get(\"https://example.com\").send()?"), "{lib}");
}

#[test]
fn a_local_get_a_shadowed_reqwest_and_a_macro_are_left_alone() {
    let src = plugin(
        "mod reqwest {\n    pub mod blocking {\n        pub fn get(url: &str) -> u64 { url.len() as u64 }\n    }\n}\n\n\
         struct Letter;\nimpl Letter {\n    fn send(&self) -> u64 { 1 }\n}\n\
         struct Mailbox;\nimpl Mailbox {\n    fn get(&self, _: &str) -> Letter { Letter }\n}\n\n\
         fn get(url: &str) -> u64 { url.len() as u64 }\n\n\
         fn go() -> u64 {\n    reqwest::blocking::get(\"x\") + get(\"https://example.com\") + Mailbox.get(\"y\").send()\n}",
    );
    let port = ported(&src);
    assert!(port.rewrites.is_empty() && port.markers.is_empty(), "{port}");
    assert!(port.files.iter().all(|f| f.path != "src/lib.rs"), "the source is untouched");

    // The body of a macro cannot be rewritten: the crate's reqwest stays, marked.
    let src = plugin(
        "macro_rules! fetch {\n    ($u:expr) => {\n        reqwest::blocking::get($u).map(|r| r.status().as_u16())\n    };\n}\n\n\
         fn go() -> u16 {\n    let a = fetch!(\"https://example.com\").unwrap_or(0);\n    \
         a + reqwest::blocking::get(\"https://example.com\").map(|r| r.status().as_u16()).unwrap_or(0)\n}",
    );
    let port = ported(&src);
    let lib = file(&port, "src/lib.rs");
    assert!(port.rewrites.is_empty(), "{port}");
    assert!(lib.contains("        reqwest::blocking::get($u)"), "{lib}");
    assert!(lib.contains("is used inside a macro (src/lib.rs:5)"), "{lib}");
    assert_eq!(port.markers.len(), 2, "{port}");
}

#[test]
fn rand_generators_draw_every_value_from_the_host() {
    let port = ported(&plugin(
        "use rand::Rng;\n\nfn roll(rng: &mut impl Rng) -> u8 {\n    rng.gen_range(1..=6)\n}\n\n\
         fn go() -> u64 {\n    let mut rng = rand::thread_rng();\n    let mut buf = [0u8; 4];\n    rng.fill(&mut buf);\n    \
         let coin: bool = rng.gen();\n    let n = u64::from(roll(&mut rng)) + u64::from(coin) + u64::from(buf[0]);\n    \
         n + rand::rng().random_range(0..10u64) + rand::random_range(0..3u64)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("use crate::wasp_port::Rng;\n"), "the port's trait in rand's place: {lib}");
    assert!(!lib.contains("use rand"), "{lib}");
    assert!(lib.contains("fn roll(rng: &mut impl Rng) -> u8 {\n    rng.gen_range(1..=6)\n}"), "{lib}");
    assert!(lib.contains("let mut rng = crate::wasp_port::thread_rng(ctx);"), "{lib}");
    assert!(lib.contains("crate::wasp_port::thread_rng(ctx).random_range(0..10u64)"), "{lib}");
    assert!(lib.contains("crate::wasp_port::random_range(0..3u64, ctx)"), "{lib}");
    assert_eq!(port.permissions, ["random"]);
    assert!(port.markers.is_empty(), "{port}");
    assert!(!file(&port, "Cargo.toml").contains("rand ="), "{}", file(&port, "Cargo.toml"));
    let shim = file(&port, "src/wasp_port.rs");
    assert!(shim.contains("pub(crate) trait Rng {") && shim.contains("fn fill_random("), "{shim}");
}

#[test]
fn getrandom_0_2_is_filled_by_the_host() {
    let port = ported(&plugin(
        "fn go() -> u64 {\n    let mut b = [0u8; 8];\n    getrandom::getrandom(&mut b).expect(\"random\");\n    \
         u64::from_le_bytes(b)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("crate::wasp_port::fill_random(&mut b, ctx).expect(\"random\");"), "{lib}");
    assert_eq!(port.permissions, ["random"]);
}

#[test]
fn seeded_generators_are_left_alone() {
    let src = plugin(
        "use rand::rngs::{SmallRng, StdRng};\nuse rand::{Rng, SeedableRng};\n\n\
         fn go() -> u64 {\n    let mut a = StdRng::seed_from_u64(7);\n    let mut b = SmallRng::seed_from_u64(7);\n    \
         a.gen_range(0..100) + b.gen::<u64>() % 3\n}",
    );
    let port = ported(&src);
    assert!(port.rewrites.is_empty() && port.markers.is_empty(), "{port}");
    assert!(port.files.iter().all(|f| f.path != "src/lib.rs"), "the source is untouched");
    assert!(port.permissions.is_empty(), "{:?}", port.permissions);

    // Beside a thread_rng that is rewritten, the seeded one keeps rand and rand's trait.
    let port = ported(&plugin(
        "use rand::{Rng, SeedableRng};\n\n\
         fn go() -> u64 {\n    rand::rngs::StdRng::seed_from_u64(7).gen_range(0..100) + rand::thread_rng().gen_range(0..3)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("use rand::{Rng, SeedableRng};\nuse crate::wasp_port::Rng as _;\n"), "{lib}");
    assert!(
        lib.contains(
            "rand::rngs::StdRng::seed_from_u64(7).gen_range(0..100) + crate::wasp_port::thread_rng(ctx).gen_range(0..3)"
        ),
        "{lib}"
    );
    assert!(file(&port, "Cargo.toml").contains("rand = \"0.8\""), "rand stays for the seeded generator");
}
