//! The parity test `cargo wasp port` scaffolds: the plugin before the port
//! (native) against the port (WebAssembly), on one script, with the
//! `wasp-testing` harness.
//!
//! `tests/parity/main.rs` runs the two forms; `tests/parity/script.rs` is
//! the script: one request per topic `on_message` answers, with a sample
//! payload of the type the topic decodes (a literal for numbers, text,
//! `bool`, and the crate's own public structs of those), and a topic the
//! plugin does not have. Topics whose handling reaches the network or
//! starts programs are left out, with the reason: the two forms cannot
//! answer them alike. Existing files are not overwritten.

use std::collections::{BTreeSet, HashMap};

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Pat};

use super::ast;
use super::{PortError, Work};
use crate::analyze::BlockerKind;
use crate::analyze::names::ident;
use crate::analyze::source::{self, SourceFile, Target};

pub(crate) const MAIN: &str = "tests/parity/main.rs";
pub(crate) const SCRIPT: &str = "tests/parity/script.rs";

pub(crate) fn scaffold(work: &mut Work) -> Result<(), PortError> {
    let files = work.parse()?;
    let script = script_text(work, &files);
    for (path, text) in [(MAIN, MAIN_TEXT.to_owned()), (SCRIPT, script)] {
        if !work.dir.join(path).exists() {
            work.other.push((path.to_owned(), None, text));
        }
    }
    Ok(())
}

const MAIN_TEXT: &str = r#"//! The parity test `cargo wasp port` scaffolded: the plugin as it was
//! before the port (a native library) against the port (WebAssembly),
//! answering the same script (`script.rs`), step by step.
//!
//! Build both forms, then run it:
//!
//! ```text
//! WASP_PARITY_BEFORE=<folder of the plugin before the port> cargo test --test parity
//! ```
//!
//! `WASP_PARITY_BEFORE` holds a `plugin.toml` with `kind = "native"` and the
//! library it names, built from the crate as it was before
//! `cargo wasp port` (`git stash`, or a checkout of the commit before).
//! `WASP_PARITY_AFTER` (default: this crate, where `cargo wasp build` writes
//! the entry beside `plugin.toml`) holds the WebAssembly form.

mod script;

use std::path::PathBuf;

use wasp_testing::{Form, Parity, Subject};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_answers_like_the_native_plugin() {
    let before = std::env::var_os("WASP_PARITY_BEFORE")
        .map(PathBuf::from)
        .expect("set WASP_PARITY_BEFORE to the folder of the native plugin before the port");
    let after = std::env::var_os("WASP_PARITY_AFTER").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let subject = Subject::new(script::NAME).native(before).wasm(after);
    let report = Parity::new(subject)
        .forms(&[Form::Native, Form::Wasm])
        .run(&script::script())
        .await
        .expect("the parity run completes");
    println!("{report}");
    report.assert_same();
}
"#;

/// The text of `script.rs` for the crate.
fn script_text(work: &Work, files: &[SourceFile]) -> String {
    let krate = work.manifest.name.replace('-', "_");
    let (worldly, worldly_topics) = worldly_functions(work);
    // What still reaches the world in the ported code itself (a marked clipboard, say).
    let here: Vec<(String, LineColumn, &'static str)> = work
        .sites_for(files, Target::Unknown)
        .into_iter()
        .filter_map(|s| Some((s.blocker.location?.file, s.start, reason(s.blocker.kind)?)))
        .collect();
    let structs = public_structs(files);
    let params = parameter_types(files);
    let mut steps = String::new();
    let mut left_out = Vec::new();
    for file in files {
        let Some((on_message, _)) = ast::on_message(&file.ast) else { continue };
        let mut arms = Arms(Vec::new());
        arms.visit_block(&on_message.block);
        for (topic, body) in arms.0 {
            let mut names = Vec::new();
            ast::idents(quote::ToTokens::to_token_stream(&body), &mut names);
            let span = body.span();
            let inside = here.iter().find(|(f, at, _)| *f == file.rel && span.start() <= *at && *at <= span.end());
            let found = inside
                .map(|(_, _, r)| r)
                .or_else(|| worldly_topics.get(&topic))
                .or_else(|| names.iter().find_map(|n| worldly.get(n)));
            if let Some(reason) = found {
                left_out.push(format!("`{topic}` ({reason})"));
                continue;
            }
            let payload = decoded_type(&body, &params)
                .map_or_else(|| "&()".to_owned(), |ty| format!("&{}", sample(&ty, &krate, &structs)));
            steps.push_str(&format!("        .step(Step::request({topic:?}, {payload}))\n"));
        }
    }
    let left_out = if left_out.is_empty() {
        String::new()
    } else {
        format!("//!\n//! Left out, since the two forms cannot answer them alike: {}.\n", left_out.join(", "))
    };
    format!(
        "//! The script of the parity test, written by `cargo wasp port`: one\n\
         //! request per topic `on_message` answers, with a sample payload, and one\n\
         //! topic it does not have. Make it the plugin's real use: the steps that\n\
         //! matter, in the order they happen.\n{left_out}\n\
         use wasp_testing::{{Script, Step}};\n\n\
         /// The name both forms are loaded under.\n\
         pub(crate) const NAME: &str = {name:?};\n\n\
         /// The steps, run against each form.\n\
         pub(crate) fn script() -> Script {{\n    Script::new()\n{steps}        .step(Step::request(\"no-such-topic\", &()))\n}}\n",
        name = work.plugin,
    )
}

/// The functions of the original crate that reach the network, start
/// programs or call C, directly or through the crate's other functions, with what they do.
fn worldly_functions(work: &Work) -> (HashMap<String, &'static str>, HashMap<String, &'static str>) {
    let originals: Vec<SourceFile> = work
        .texts
        .iter()
        .filter_map(|t| {
            let ast = syn::parse_file(&t.original).ok()?;
            Some(SourceFile { rel: t.rel.clone(), text: t.original.clone(), ast })
        })
        .collect();
    let index = source::index(&originals);
    let sites = source::sites(&originals, &index, Target::Unknown);
    let mut worldly: HashMap<String, &'static str> = HashMap::new();
    let mut bodies: Vec<(String, BTreeSet<String>)> = Vec::new();
    // Topics whose arm met the world itself (`webbrowser::open` in the arm).
    let mut topics: HashMap<String, &'static str> = HashMap::new();
    for file in &originals {
        let Some((on_message, _)) = ast::on_message(&file.ast) else { continue };
        let mut arms = Arms(Vec::new());
        arms.visit_block(&on_message.block);
        for (topic, body) in arms.0 {
            let span = body.span();
            let hit = sites.iter().find_map(|s| {
                let l = s.blocker.location.as_ref()?;
                let inside = l.file == file.rel && span.start() <= s.start && s.end <= span.end();
                if inside { reason(s.blocker.kind) } else { None }
            });
            if let Some(r) = hit {
                topics.insert(topic, r);
            }
        }
    }
    for (i, file) in originals.iter().enumerate() {
        for (f, _) in ast::functions(&file.ast) {
            let span = match f {
                ast::FnRef::Free(x) => x.span(),
                ast::FnRef::Method(x) => x.span(),
            };
            let reason = sites.iter().find_map(|s| {
                let l = s.blocker.location.as_ref()?;
                let inside = l.file == originals[i].rel && span.start() <= s.start && s.end <= span.end();
                if inside { reason(s.blocker.kind) } else { None }
            });
            if f.name() == "on_message" {
                continue;
            }
            if let Some(reason) = reason {
                worldly.insert(f.name(), reason);
            }
            let mut names = Vec::new();
            ast::idents(quote::ToTokens::to_token_stream(f.block()), &mut names);
            bodies.push((f.name(), names.into_iter().collect()));
        }
    }
    loop {
        let more: Vec<(String, &'static str)> = bodies
            .iter()
            .filter(|(name, _)| !worldly.contains_key(name))
            .filter_map(|(name, calls)| calls.iter().find_map(|c| worldly.get(c)).map(|r| (name.clone(), *r)))
            .collect();
        if more.is_empty() {
            return (worldly, topics);
        }
        worldly.extend(more);
    }
}

/// Why a topic whose handling meets a blocker of `kind` cannot answer alike in both forms.
fn reason(kind: BlockerKind) -> Option<&'static str> {
    match kind {
        BlockerKind::Net => Some("it reaches the network"),
        BlockerKind::Process => Some("it starts a program"),
        BlockerKind::Ffi => Some("it calls C or the OS"),
        _ => None,
    }
}

/// The topics of `on_message`'s `match`: each string pattern, with its arm's body.
struct Arms(Vec<(String, Expr)>);

impl<'a> Visit<'a> for Arms {
    fn visit_arm(&mut self, arm: &'a syn::Arm) {
        // Events (a timer's, say) are not requests a script makes.
        let event = quote::ToTokens::to_token_stream(&arm.pat).to_string().contains("Event");
        if let Some(topic) = topic_of(&arm.pat).filter(|_| arm.guard.is_none() && !event) {
            // A `match` inside a topic's arm matches its payload, not topics.
            self.0.push((topic, (*arm.body).clone()));
            return;
        }
        syn::visit::visit_arm(self, arm);
    }
}

fn topic_of(pat: &Pat) -> Option<String> {
    match pat {
        Pat::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
        Pat::Tuple(t) => t.elems.iter().find_map(topic_of),
        _ => None,
    }
}

/// The crate's public structs with named, public fields: name → (field, type text).
fn public_structs(files: &[SourceFile]) -> HashMap<String, Vec<(String, String)>> {
    let mut out = HashMap::new();
    for file in files {
        for item in &file.ast.items {
            let syn::Item::Struct(s) = item else { continue };
            let public = matches!(s.vis, syn::Visibility::Public(_));
            let fields: Option<Vec<(String, String)>> = s
                .fields
                .iter()
                .map(|f| {
                    let public = matches!(f.vis, syn::Visibility::Public(_));
                    public.then(|| Some((ident(f.ident.as_ref()?), type_text(&f.ty)))).flatten()
                })
                .collect();
            if let (true, Some(fields)) = (public, fields) {
                out.insert(ident(&s.ident), fields);
            }
        }
    }
    out
}

fn type_text(ty: &syn::Type) -> String {
    quote::ToTokens::to_token_stream(ty).to_string().replace(' ', "")
}

/// Each function's and method's parameter types (without `self`), by name.
fn parameter_types(files: &[SourceFile]) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for file in files {
        for (f, _) in ast::functions(&file.ast) {
            let types = f
                .sig()
                .inputs
                .iter()
                .filter_map(|i| match i {
                    syn::FnArg::Typed(t) => Some(type_text(&t.ty)),
                    syn::FnArg::Receiver(_) => None,
                })
                .collect();
            out.insert(f.name(), types);
        }
    }
    out
}

/// The type an arm decodes its payload as: `msg.decode::<T>()`,
/// `let x: T = msg.decode()?`, or the parameter it is passed to.
fn decoded_type(body: &Expr, params: &HashMap<String, Vec<String>>) -> Option<String> {
    struct Finder<'p> {
        params: &'p HashMap<String, Vec<String>>,
        found: Option<String>,
    }
    fn is_decode(e: &Expr) -> Option<&syn::ExprMethodCall> {
        match e {
            Expr::Try(t) => is_decode(&t.expr),
            Expr::MethodCall(m) if m.method == "decode" => Some(m),
            _ => None,
        }
    }
    impl<'a> Visit<'a> for Finder<'_> {
        fn visit_expr_method_call(&mut self, m: &'a syn::ExprMethodCall) {
            if let Some(d) = is_decode(&Expr::MethodCall(m.clone()))
                && let Some(t) = d.turbofish.as_ref().and_then(|t| t.args.first())
            {
                self.found.get_or_insert(quote::ToTokens::to_token_stream(t).to_string().replace(' ', ""));
            }
            let at = m.args.iter().position(|a| is_decode(a).is_some());
            if let (Some(at), Some(types)) = (at, self.params.get(&ident(&m.method)))
                && let Some(t) = types.get(at)
            {
                self.found.get_or_insert(t.clone());
            }
            syn::visit::visit_expr_method_call(self, m);
        }

        fn visit_expr_call(&mut self, c: &'a syn::ExprCall) {
            let at = c.args.iter().position(|a| is_decode(a).is_some());
            let name = match &*c.func {
                Expr::Path(p) => p.path.segments.last().map(|s| ident(&s.ident)),
                _ => None,
            };
            if let (Some(at), Some(types)) = (at, name.and_then(|n| self.params.get(&n)))
                && let Some(t) = types.get(at)
            {
                self.found.get_or_insert(t.clone());
            }
            syn::visit::visit_expr_call(self, c);
        }

        fn visit_local(&mut self, l: &'a syn::Local) {
            if let (Pat::Type(t), Some(init)) = (&l.pat, &l.init)
                && is_decode(&init.expr).is_some()
            {
                self.found.get_or_insert(type_text(&t.ty));
            }
            syn::visit::visit_local(self, l);
        }
    }
    let mut finder = Finder { params, found: None };
    finder.visit_expr(body);
    finder.found
}

/// A sample value of a type, as Rust source.
fn sample(ty: &str, krate: &str, structs: &HashMap<String, Vec<(String, String)>>) -> String {
    let ty = ty.trim_start_matches('&');
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
            format!("1{ty}")
        }
        "f32" | "f64" => format!("1.0{ty}"),
        "bool" => "true".to_owned(),
        "String" | "str" => "\"example\"".to_owned(),
        _ if ty.starts_with("Option<") => format!("Some({})", sample(&ty[7..ty.len() - 1], krate, structs)),
        _ => match structs.get(ty) {
            Some(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, t)| {
                        let value = if t == "String" { format!("{name:?}.into()") } else { sample(t, krate, structs) };
                        format!("{name}: {value}")
                    })
                    .collect();
                format!("{krate}::{ty} {{ {} }}", fields.join(", "))
            }
            None => format!("() /* a `{ty}`: fill in */"),
        },
    }
}

#[cfg(test)]
mod tests {
    use syn::visit::Visit;

    use super::Arms;

    #[test]
    fn topics_are_the_outer_arms_not_a_match_on_the_payload_inside_one() {
        let file: syn::File = syn::parse_str(
            r#"fn on_message(msg: Message) -> Reply {
                match msg.topic() {
                    "units" => match msg.decode::<String>().as_str() {
                        "metric" => Reply::encode(&false),
                        "imperial" => Reply::encode(&true),
                        _ => Reply::error(),
                    },
                    "tip" => Reply::encode(&"drink water"),
                    _ => Reply::error(),
                }
            }"#,
        )
        .expect("parses");
        let mut arms = Arms(Vec::new());
        arms.visit_file(&file);
        let topics: Vec<&str> = arms.0.iter().map(|(topic, _)| topic.as_str()).collect();
        assert_eq!(topics, ["units", "tip"]);
    }
}
