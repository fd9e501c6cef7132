//! A plugin's UI panel acts as its plugin (`Host::subscribe_as`): it hears
//! what its plugin may hear, never what other plugins tell the host.

use std::time::Duration;

use wasp_actors::{Event, Limits, Load, Manifest};
use wasp_protocol::WireError;
use wasp_sdk::prelude::*;

use super::{host_with, perm};
use crate::common::mp;

/// On any request: sends the host `secret` on `secret`, then publishes
/// `news` on `news`.
#[derive(Default)]
struct Teller;

impl Plugin for Teller {
    fn on_message(&mut self, ctx: &mut Context<'_>, _: Message<'_>) -> Result<Reply, WireError> {
        ctx.send("host", "secret", &"secret")?;
        ctx.publish("news", &"news")?;
        Reply::encode(&())
    }
}

async fn next(rx: &mut wasp_actors::Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("an event within 5 s").expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_listening_to_everything_never_reads_another_plugins_messages_to_the_host() {
    let host = host_with(Limits::default());
    // The panel's plugin may follow every topic.
    let snoop = Manifest::new("snoop").unwrap().permission(perm("subscribe:*"));
    host.load(Load::in_process(Teller::default).described_by(snoop)).await.expect("registers");
    let teller = Manifest::new("teller").unwrap().permissions(["send:host", "publish:news", "ui:secret"].map(perm));
    host.load(Load::in_process(Teller::default).described_by(teller)).await.expect("registers");

    let mut own = host.subscribe("*").unwrap();
    let mut ui = host.subscribe_ui("*").unwrap();
    let mut panel = host.subscribe_as("snoop", "*").expect("`subscribe:*` covers it");
    let () = host.call("teller", "tell", &()).await.unwrap();

    // The host hears both; its UI the message (`ui:secret`), not the news.
    let (a, b) = (next(&mut own).await, next(&mut own).await);
    assert_eq!(
        [(a.from.as_str(), a.topic.as_str()), (b.from.as_str(), b.topic.as_str())],
        [("teller", "secret"), ("teller", "news")]
    );
    assert_eq!(next(&mut ui).await.decode::<String>().unwrap(), "secret");
    // The panel hears the publish, which its plugin may follow, and not
    // the message to the host (both were handed out before `own` got `news`).
    let heard = next(&mut panel).await;
    assert_eq!((heard.topic.as_str(), heard.decode::<String>().unwrap().as_str()), ("news", "news"));
    assert!(panel.try_recv().is_none(), "the panel read more");
    assert!(ui.try_recv().is_none(), "the UI read an event without `ui:`");
    assert_eq!(mp(&"secret"), a.payload);
}
