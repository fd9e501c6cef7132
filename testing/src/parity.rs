//! Forms, subjects, and running a script against each form.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use wasp_actors::{AuditEvent, Event, Host, HostBuilder, Load, Manifest, PluginRef, Policy};
use wasp_protocol::WireError;

use crate::Error;
use crate::report::Report;
use crate::script::{Action, Earlier, Payload, Script, Step};
use crate::transcript::{Data, ErrorSeen, EventSeen, Incident, IncidentKind, Observation, Outcome, Transcript};

/// One of the forms a wasp plugin takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Form {
    /// A Rust type compiled into the application, loaded with
    /// `Load::in_process`.
    InProcess,
    /// A native dynamic library, loaded from its bundle folder.
    Native,
    /// A WebAssembly module, loaded from its bundle folder.
    Wasm,
    /// A WebAssembly component of the `wasp:plugin` world
    /// (`docs/components.md`), loaded from its bundle folder.
    Component,
}

impl Form {
    /// Every form, in the order runs use (and compare against the first).
    pub const ALL: [Form; 4] = [Form::InProcess, Form::Native, Form::Wasm, Form::Component];

    /// What `PluginRef::kind` says of a plugin in this form.
    pub const fn kind(self) -> wasp_actors::PluginKind {
        use wasp_actors::PluginKind;
        match self {
            Self::InProcess => PluginKind::InProcess,
            Self::Native => PluginKind::Native,
            Self::Wasm => PluginKind::Wasm,
            Self::Component => PluginKind::Component,
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().as_str())
    }
}

type LoadFuture = Pin<Box<dyn Future<Output = Result<PluginRef, wasp_actors::Error>> + Send>>;
type Register = Arc<dyn Fn(&Host, &str) -> LoadFuture + Send + Sync>;

/// How one form of a plugin is loaded.
#[derive(Clone)]
enum Loader {
    /// Registered in process; `stand_in` when it stands for another form.
    InProcess { register: Register, stand_in: bool },
    /// Loaded from a bundle folder (or manifest, or module) with `Load::path(..).named(..)`.
    Bundle(PathBuf),
}

/// A plugin under test — or a peer it talks to — and how to load it in
/// each form it has. It is loaded under `name` in every form.
///
/// ```no_run
/// # use wasp_actors::Manifest;
/// # use wasp_testing::Subject;
/// # #[derive(Default)] struct Counter;
/// # impl wasp_sdk::Plugin for Counter {
/// #     fn on_message(&mut self, _: &mut wasp_sdk::Context<'_>, _: wasp_sdk::Message<'_>)
/// #         -> Result<wasp_sdk::Reply, wasp_protocol::WireError> { Ok(wasp_sdk::Reply::empty()) }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let counter = Subject::new("counter")
///     .in_process(Manifest::from_file("plugins/counter/plugin.toml".as_ref())?, Counter::default)
///     .native("dist/counter-native")
///     .wasm("dist/counter-wasm");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Subject {
    name: String,
    loaders: BTreeMap<Form, Loader>,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let forms: Vec<String> = self
            .loaders
            .iter()
            .map(|(form, loader)| match loader {
                Loader::InProcess { stand_in: false, .. } => form.to_string(),
                Loader::InProcess { stand_in: true, .. } => format!("{form} (in-process stand-in)"),
                Loader::Bundle(dir) => format!("{form} ({})", dir.display()),
            })
            .collect();
        f.debug_struct("Subject").field("name", &self.name).field("forms", &forms).finish()
    }
}

impl Subject {
    /// A plugin to be loaded as `name`, with no forms yet.
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), loaders: BTreeMap::new() }
    }

    /// The name it is loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The forms it has.
    pub fn forms(&self) -> Vec<Form> {
        self.loaders.keys().copied().collect()
    }

    fn register<P: wasp_sdk::Plugin>(
        manifest: Manifest,
        factory: impl Fn() -> P + Clone + Send + Sync + 'static,
    ) -> Register {
        Arc::new(move |host: &Host, name: &str| {
            let mut manifest = manifest.clone();
            name.clone_into(&mut manifest.name);
            let host = host.clone();
            let factory = factory.clone();
            Box::pin(async move { host.load(Load::in_process(factory).described_by(manifest)).await })
        })
    }

    /// The in-process form: `factory` creates the plugin (and re-creates it
    /// after a panic), `manifest` gives it the permissions, limits and
    /// configuration its other forms get (its name is replaced by the
    /// subject's).
    pub fn in_process<P: wasp_sdk::Plugin>(
        mut self,
        manifest: Manifest,
        factory: impl Fn() -> P + Clone + Send + Sync + 'static,
    ) -> Self {
        let register = Self::register(manifest, factory);
        self.loaders.insert(Form::InProcess, Loader::InProcess { register, stand_in: false });
        self
    }

    /// The native form: a bundle folder holding a `plugin.toml` of kind
    /// `native` and the dynamic library it names (or that manifest, or the
    /// library itself).
    pub fn native(mut self, bundle: impl Into<PathBuf>) -> Self {
        self.loaders.insert(Form::Native, Loader::Bundle(bundle.into()));
        self
    }

    /// The WASM form: a bundle folder holding a `plugin.toml` and the
    /// `.wasm` it names (or that manifest, or the module itself).
    pub fn wasm(mut self, bundle: impl Into<PathBuf>) -> Self {
        self.loaders.insert(Form::Wasm, Loader::Bundle(bundle.into()));
        self
    }

    /// The component form: a bundle folder holding a `plugin.toml` and the
    /// component it names (or that manifest, or the component itself).
    pub fn component(mut self, bundle: impl Into<PathBuf>) -> Self {
        self.loaders.insert(Form::Component, Loader::Bundle(bundle.into()));
        self
    }

    /// An in-process plugin standing in for `form`: to compare two
    /// implementations of a plugin in process (an old one and its rewrite),
    /// or to test a harness. The check that the loaded plugin really is of
    /// that form's kind is skipped.
    pub fn stand_in<P: wasp_sdk::Plugin>(
        mut self,
        form: Form,
        manifest: Manifest,
        factory: impl Fn() -> P + Clone + Send + Sync + 'static,
    ) -> Self {
        let register = Self::register(manifest, factory);
        self.loaders.insert(form, Loader::InProcess { register, stand_in: true });
        self
    }

    /// Loads the plugin into `host` in `form`, checking that it loaded as
    /// that form.
    async fn load(&self, host: &Host, form: Form) -> Result<PluginRef, Error> {
        let loader = self.loaders.get(&form).ok_or_else(|| Error::MissingForm { plugin: self.name.clone(), form })?;
        let (loaded, expected) = match loader {
            Loader::InProcess { register, stand_in } => {
                (register(host, &self.name).await, if *stand_in { Form::InProcess } else { form })
            }
            Loader::Bundle(path) => (host.load(Load::path(path).named(&self.name)).await, form),
        };
        let loaded =
            loaded.map_err(|source| Error::Load { plugin: self.name.clone(), form, source: Box::new(source) })?;
        if loaded.kind() != expected.kind() {
            return Err(Error::WrongKind { plugin: self.name.clone(), form, kind: loaded.kind().to_string() });
        }
        Ok(loaded)
    }
}

/// A hook applied to every reply and event payload before comparison.
type Normalizer = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// Runs one [`Script`] against each form of a [`Subject`] and reports
/// what each did.
///
/// Every form gets a host of its own, built from the same template, and —
/// unless [`Parity::no_data_dir`] — an empty temporary data directory (so
/// storage and `$DATA` files work, and start empty). The peers are loaded
/// first, each in the form under test when it has that form and otherwise
/// in its first form; then the subject; then the steps run, one at a time.
/// Forms run one after the other, in [`Form::ALL`] order.
///
/// | knob | default |
/// | --- | --- |
/// | [`host`](Parity::host) | request timeout 10 s, policy trusting every plugin (`trust("*")`) |
/// | [`forms`](Parity::forms) | every form the subject has (at least two) |
/// | [`watch`](Parity::watch) | `*`: every publish, and every send to `host` |
/// | [`settle`](Parity::settle) | 50 ms without a new event ends a step |
/// | [`normalize`](Parity::normalize) | none |
#[derive(Clone)]
pub struct Parity {
    subject: Subject,
    peers: Vec<Subject>,
    builder: HostBuilder,
    data_dir: bool,
    forms: Option<Vec<Form>>,
    watch: Vec<String>,
    settle: Duration,
    normalizer: Option<Normalizer>,
}

impl fmt::Debug for Parity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parity")
            .field("subject", &self.subject)
            .field("peers", &self.peers)
            .field("data_dir", &self.data_dir)
            .field("forms", &self.forms)
            .field("watch", &self.watch)
            .field("settle", &self.settle)
            .finish_non_exhaustive()
    }
}

impl Parity {
    /// A parity run for `subject`, with the defaults above.
    pub fn new(subject: Subject) -> Self {
        let policy = Policy::new();
        // `*` is a valid rule; should it ever be refused, the default policy (deny) shows in every form alike.
        let policy = policy.clone().trust("*").unwrap_or(policy);
        Self {
            subject,
            peers: Vec::new(),
            builder: Host::builder().request_timeout(Duration::from_secs(10)).policy(policy),
            data_dir: true,
            forms: None,
            watch: vec!["*".into()],
            settle: Duration::from_millis(50),
            normalizer: None,
        }
    }

    /// A plugin loaded before the subject in every form (the target of a
    /// relay, say).
    pub fn peer(mut self, peer: Subject) -> Self {
        self.peers.push(peer);
        self
    }

    /// Adjusts the template every form's host is built from: a policy, a
    /// CPU budget, configuration values. The data directory is set per
    /// form by the run.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use wasp_testing::{Parity, Subject};
    /// let parity = Parity::new(Subject::new("spinner"))
    ///     .host(|builder| builder.cpu_budget(Duration::from_millis(200)));
    /// ```
    pub fn host(mut self, configure: impl FnOnce(HostBuilder) -> HostBuilder) -> Self {
        self.builder = configure(self.builder);
        self
    }

    /// Builds every form's host with no data directory (no storage, no
    /// `$DATA`).
    pub fn no_data_dir(mut self) -> Self {
        self.data_dir = false;
        self
    }

    /// Runs exactly these forms, in [`Form::ALL`] order; a form the subject
    /// lacks fails the run with [`Error::MissingForm`]. This is how a test
    /// demands every form.
    pub fn forms(mut self, forms: &[Form]) -> Self {
        self.forms = Some(Form::ALL.into_iter().filter(|f| forms.contains(f)).collect());
        self
    }

    /// The topic patterns whose events are recorded (a topic, or a prefix
    /// ending in `*`), instead of `*`. An event matching two patterns is
    /// recorded twice.
    pub fn watch(mut self, patterns: &[&str]) -> Self {
        self.watch = patterns.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// How long without a new event or incident ends a step (the wait is
    /// cut off after 40 times that, for plugins that never fall silent).
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// A hook applied to every reply and event payload before they are
    /// recorded and compared: to blank out ids, times and random bytes
    /// (see [`redact`](crate::redact)). [`Step::request_with`] still sees
    /// the replies as sent.
    pub fn normalize(mut self, normalize: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.normalizer = Some(Arc::new(normalize));
        self
    }

    /// The forms the run covers.
    fn chosen_forms(&self) -> Result<Vec<Form>, Error> {
        let forms = self.forms.clone().unwrap_or_else(|| self.subject.forms());
        if forms.len() < 2 {
            let have = forms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let have = if have.is_empty() { "none".to_owned() } else { have };
            return Err(Error::TooFewForms { subject: self.subject.name.clone(), have });
        }
        if let Some(&form) = forms.iter().find(|f| !self.subject.loaders.contains_key(f)) {
            return Err(Error::MissingForm { plugin: self.subject.name.clone(), form });
        }
        Ok(forms)
    }

    /// Runs `script` against every form and reports what each did.
    ///
    /// Fails (before running anything) when fewer than two forms are
    /// chosen, a chosen form is missing or a payload cannot be encoded; and
    /// when a host cannot be built or a plugin cannot be loaded in a form.
    /// Forms that behave differently are not a failure here: see
    /// [`Report::check`].
    ///
    /// The ambient tokio runtime must be the multi-thread flavor.
    pub async fn run(&self, script: &Script) -> Result<Report, Error> {
        let forms = self.chosen_forms()?;
        for (i, step) in script.steps().iter().enumerate() {
            if let Some(Payload::Invalid(message)) = step.payload() {
                return Err(Error::Payload { step: i + 1, description: step.to_string(), message: message.clone() });
            }
        }
        let mut transcripts = Vec::with_capacity(forms.len());
        for form in forms {
            transcripts.push(self.run_form(form, script).await?);
        }
        Ok(Report::new(self.subject.name.clone(), script.clone(), transcripts))
    }

    async fn run_form(&self, form: Form, script: &Script) -> Result<Transcript, Error> {
        let dir = if self.data_dir { Some(tempfile::tempdir().map_err(Error::DataDir)?) } else { None };
        let mut builder = self.builder.clone();
        if let Some(dir) = &dir {
            builder = builder.data_dir(dir.path());
        }
        let host = builder.build().map_err(|source| Error::Host { form, source: Box::new(source) })?;
        let result = self.converse(&host, form, script).await;
        // A native plugin stuck in a loop cannot be stopped; do not wait for it forever.
        let _ = tokio::time::timeout(Duration::from_secs(5), host.shutdown()).await;
        drop(dir);
        result
    }

    async fn converse(&self, host: &Host, form: Form, script: &Script) -> Result<Transcript, Error> {
        let mut names: Vec<String> = self.peers.iter().map(|p| p.name.clone()).collect();
        names.push(self.subject.name.clone());
        let mut watcher = Watcher::start(host, &self.watch, names, self.settle)?;

        let mut load = Observation::new(Outcome::Done);
        for peer in &self.peers {
            let peer_form = if peer.loaders.contains_key(&form) {
                form
            } else {
                peer.loaders.keys().next().copied().ok_or(Error::MissingForm { plugin: peer.name.clone(), form })?
            };
            watcher.during(peer.load(host, peer_form), &mut load, self).await?;
        }
        let loaded = watcher.during(self.subject.load(host, form), &mut load, self).await?;
        watcher.settle(&mut load, self).await;
        load.sort();

        let mut replies: Vec<Option<Value>> = Vec::with_capacity(script.len());
        let mut steps = Vec::with_capacity(script.len());
        for step in script.steps() {
            if !step.runs_in(form) {
                replies.push(None);
                steps.push(Observation::new(Outcome::Excluded));
                continue;
            }
            let (observation, raw) = self.perform(host, step, &replies, &mut watcher).await;
            replies.push(raw);
            steps.push(observation);
        }
        watcher.stop();
        Ok(Transcript { form, kind: loaded.kind().to_string(), load, steps })
    }

    /// Carries out one step: its observation, and the raw reply for later
    /// payload builders.
    async fn perform(
        &self,
        host: &Host,
        step: &Step,
        replies: &[Option<Value>],
        watcher: &mut Watcher,
    ) -> (Observation, Option<Value>) {
        let target = step.to.as_deref().unwrap_or(&self.subject.name);
        let mut observation = Observation::new(Outcome::Done);
        let mut raw = None;
        let payload = |payload: &Payload| -> Option<Vec<u8>> {
            match payload {
                Payload::Bytes(bytes) => Some(bytes.clone()),
                Payload::Built(build) => build(&Earlier { replies }).and_then(|value| {
                    let mut bytes = Vec::new();
                    rmpv::encode::write_value(&mut bytes, &value).ok().map(|()| bytes)
                }),
                Payload::Invalid(_) => None,
            }
        };
        let outcome = match &step.action {
            Action::Request { topic, payload: p } => match payload(p) {
                None => Outcome::Unbuilt,
                Some(bytes) => {
                    let answer = match step.timeout {
                        Some(timeout) => {
                            watcher
                                .during(
                                    host.request_with_timeout(target, topic, bytes, timeout),
                                    &mut observation,
                                    self,
                                )
                                .await
                        }
                        None => watcher.during(host.request(target, topic, bytes), &mut observation, self).await,
                    };
                    match answer {
                        Ok(bytes) => {
                            let data = Data::from_bytes(&bytes);
                            raw = data.value().cloned();
                            Outcome::Reply(self.normalized(data))
                        }
                        Err(e) => wire_error(e),
                    }
                }
            },
            Action::Send { topic, payload: p } => match payload(p) {
                None => Outcome::Unbuilt,
                Some(bytes) => host.send(target, topic, bytes).map_or_else(wire_error, |()| Outcome::Done),
            },
            Action::Publish { topic, payload: p } => match payload(p) {
                None => Outcome::Unbuilt,
                Some(bytes) => host.publish(topic, bytes).map_or_else(wire_error, |()| Outcome::Done),
            },
            Action::Wait(duration) => {
                watcher.during(tokio::time::sleep(*duration), &mut observation, self).await;
                Outcome::Done
            }
            Action::Grant(permission) => {
                host_error(watcher.during(host.grant(target, permission), &mut observation, self).await)
            }
            Action::Revoke(permission) => {
                host_error(watcher.during(host.revoke(target, permission), &mut observation, self).await)
            }
        };
        observation.outcome = outcome;
        watcher.settle(&mut observation, self).await;
        observation.sort();
        (observation, raw)
    }

    fn normalized(&self, data: Data) -> Data {
        match (data, &self.normalizer) {
            (Data::Value(mut value), Some(normalize)) => {
                normalize(&mut value);
                Data::Value(value)
            }
            (data, _) => data,
        }
    }
}

fn wire_error(e: WireError) -> Outcome {
    Outcome::Error(ErrorSeen { code: e.code, message: e.message })
}

fn host_error(result: Result<(), wasp_actors::Error>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Error(ErrorSeen { code: e.code(), message: e.to_string() }),
    }
}

/// Collects the host's events and the plugins' incidents.
struct Watcher {
    events: mpsc::UnboundedReceiver<Event>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    audit: broadcast::Receiver<AuditEvent>,
    audit_open: bool,
    plugins: Vec<String>,
    settle: Duration,
}

impl Watcher {
    fn start(host: &Host, patterns: &[String], plugins: Vec<String>, settle: Duration) -> Result<Self, Error> {
        let audit = host.audit_events();
        let (tx, events) = mpsc::unbounded_channel();
        let mut forwarders = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let mut subscription =
                host.subscribe(pattern).map_err(|source| Error::Watch { pattern: pattern.clone(), source })?;
            let tx = tx.clone();
            forwarders.push(tokio::spawn(async move {
                while let Some(event) = subscription.recv().await {
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            }));
        }
        Ok(Self { events, forwarders, audit, audit_open: true, plugins, settle })
    }

    fn stop(&mut self) {
        for forwarder in self.forwarders.drain(..) {
            forwarder.abort();
        }
    }

    fn note_event(&self, event: Event, into: &mut Observation, parity: &Parity) {
        let payload = parity.normalized(Data::from_bytes(&event.payload));
        into.events.push(EventSeen { from: event.from, topic: event.topic, payload });
    }

    fn note_audit(&mut self, received: Result<AuditEvent, broadcast::error::RecvError>, into: &mut Observation) {
        match received {
            Ok(event) => {
                if self.plugins.contains(&event.plugin)
                    && let Some(kind) = IncidentKind::of(&event.kind)
                {
                    into.incidents.push(Incident { plugin: event.plugin, kind });
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => self.audit_open = false,
        }
    }

    /// Awaits `work`, recording what arrives meanwhile.
    async fn during<F: Future>(&mut self, work: F, into: &mut Observation, parity: &Parity) -> F::Output {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => self.note_event(event, into, parity),
                received = self.audit.recv(), if self.audit_open => self.note_audit(received, into),
                out = &mut work => return out,
            }
        }
    }

    /// Records what arrives until nothing has for the settle time (at most
    /// 40 settle times in all).
    async fn settle(&mut self, into: &mut Observation, parity: &Parity) {
        let give_up = Instant::now() + self.settle * 40;
        loop {
            let quiet = tokio::time::sleep(self.settle);
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => self.note_event(event, into, parity),
                received = self.audit.recv(), if self.audit_open => self.note_audit(received, into),
                () = quiet => return,
            }
            if Instant::now() >= give_up {
                return;
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}
