//! Just enough of the types of a crate's values to resolve method calls.
//!
//! Syntax alone cannot tell `path.exists()` on a `PathBuf` (the file
//! system) from `set.exists()` on the crate's own type, nor `at.elapsed()`
//! on an `Instant` (the clock). The scan keeps a local type environment
//! instead of running a type checker: function parameters, `let` bindings
//! with a written type or one inferred from a known constructor
//! (`Path::new`, `Instant::now`, the crate's own functions), struct fields,
//! the crate's own `type` aliases and `use` renames, closure parameters of
//! `Option`/`Result`/iterator methods, and smart pointers and guards seen
//! through (`Arc<Mutex<State>>` → `state.lock().unwrap().field`). What it
//! cannot type stays unknown, and an unknown receiver is reported only for
//! methods no crate type is likely to have (`elapsed`, `to_socket_addrs`).

use std::collections::HashMap;

/// A type, its path resolved through `use` and aliases: `std::path::PathBuf`,
/// `Option<std::time::Instant>`, or the crate's own `State`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ty {
    /// The resolved path; the crate's own types keep the path they were named by.
    pub(crate) path: Vec<String>,
    /// Generic arguments that are types.
    pub(crate) args: Vec<Ty>,
}

/// Wrappers a field access or method call sees through.
const SMART: &[&str] = &["Arc", "Rc", "Box", "MutexGuard", "RwLockReadGuard", "RwLockWriteGuard", "Ref", "RefMut"];

impl Ty {
    /// A type without generic arguments.
    pub(crate) fn plain(path: &[&str]) -> Self {
        Self { path: path.iter().map(|s| (*s).to_owned()).collect(), args: Vec::new() }
    }

    fn wrap(outer: &[&str], inner: Ty) -> Self {
        Self { args: vec![inner], ..Self::plain(outer) }
    }

    /// The last segment of the path: `PathBuf`, `Option`, `State`.
    pub(crate) fn name(&self) -> &str {
        self.path.last().map_or("", String::as_str)
    }

    fn first_arg(&self) -> Option<Ty> {
        self.args.first().cloned()
    }

    /// The type behind smart pointers and lock guards.
    pub(crate) fn deref(&self) -> &Ty {
        let mut ty = self;
        while SMART.contains(&ty.name()) {
            match ty.args.first() {
                Some(inner) => ty = inner,
                None => break,
            }
        }
        ty
    }

    /// The element a closure given to this value's `map`, `filter`,
    /// `for_each`, … receives: the `T` of `Option<T>`, `Result<T, _>`, an
    /// iterator over `T`.
    pub(crate) fn element(&self) -> Option<Ty> {
        match self.deref().name() {
            "Option" | "Result" | "Iter" | "IntoIter" | "Vec" | "VecDeque" | "HashSet" | "BTreeSet" => {
                self.deref().first_arg()
            }
            _ => None,
        }
    }
}

/// What the crate declares, by name: struct fields and the return types of
/// functions and methods. Names are not qualified by module; a plugin crate
/// rarely has two types or functions of one name, and when it does both
/// are dropped rather than guessed.
#[derive(Debug, Default)]
pub(crate) struct CrateIndex {
    fields: HashMap<String, HashMap<String, Ty>>,
    fns: HashMap<String, Option<Ty>>,
    methods: HashMap<(String, String), Option<Ty>>,
}

impl CrateIndex {
    pub(crate) fn add_struct(&mut self, name: String, fields: HashMap<String, Ty>) {
        self.fields.insert(name, fields);
    }

    pub(crate) fn add_fn(&mut self, name: String, ret: Option<Ty>) {
        match self.fns.get(&name) {
            Some(old) if *old != ret => self.fns.insert(name, None),
            _ => self.fns.insert(name, ret),
        };
    }

    pub(crate) fn add_method(&mut self, self_ty: String, name: String, ret: Option<Ty>) {
        self.methods.insert((self_ty, name), ret);
    }

    /// The type of `field` of a value of type `ty` (seen through pointers and guards).
    pub(crate) fn field(&self, ty: &Ty, field: &str) -> Option<Ty> {
        self.fields.get(ty.deref().name())?.get(field).cloned()
    }

    /// The return type of the crate's free function `name`.
    pub(crate) fn function(&self, name: &str) -> Option<Ty> {
        self.fns.get(name).cloned().flatten()
    }

    /// The return type of the crate's method `name` on `ty`.
    pub(crate) fn method(&self, ty: &Ty, name: &str) -> Option<Ty> {
        self.methods.get(&(ty.deref().name().to_owned(), name.to_owned())).cloned().flatten()
    }

    /// Whether the crate declares a method `name` on `ty`.
    pub(crate) fn has_method(&self, ty: &Ty, name: &str) -> bool {
        self.methods.contains_key(&(ty.deref().name().to_owned(), name.to_owned()))
    }
}

/// The type `ty` names, its paths resolved with `resolve`; `Self` is `self_ty`.
pub(crate) fn from_syn(
    ty: &syn::Type,
    resolve: &dyn Fn(Vec<String>) -> Vec<String>,
    self_ty: Option<&Ty>,
) -> Option<Ty> {
    match ty {
        syn::Type::Reference(r) => from_syn(&r.elem, resolve, self_ty),
        syn::Type::Paren(p) => from_syn(&p.elem, resolve, self_ty),
        syn::Type::Group(g) => from_syn(&g.elem, resolve, self_ty),
        syn::Type::Path(p) if p.qself.is_none() => {
            let segments: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
            if segments == ["Self"] {
                return self_ty.cloned();
            }
            let path = if p.path.leading_colon.is_some() { segments } else { resolve(segments) };
            let args = match p.path.segments.last().map(|s| &s.arguments) {
                Some(syn::PathArguments::AngleBracketed(a)) => a
                    .args
                    .iter()
                    .filter_map(|arg| match arg {
                        syn::GenericArgument::Type(t) => from_syn(t, resolve, self_ty),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Some(Ty { path: std_alias(path), args })
        }
        _ => None,
    }
}

/// Re-exports spelled as their std paths: `io::Result` is a `Result`.
fn std_alias(path: Vec<String>) -> Vec<String> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["std", "io", "Result"] | ["std", "fmt", "Result"] => vec!["Result".to_owned()],
        _ => path,
    }
}

/// The return type of a function or associated function of std or a
/// catalogued crate, by resolved path.
pub(crate) fn known_return(path: &[String]) -> Option<Ty> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let path_buf = || Ty::plain(&["std", "path", "PathBuf"]);
    Some(match p.as_slice() {
        ["std", "path", "Path", "new"] => Ty::plain(&["std", "path", "Path"]),
        ["std", "path", "PathBuf", "from" | "new"] => path_buf(),
        ["std", "env", "temp_dir"] => path_buf(),
        ["std", "env", "current_dir" | "current_exe"] => Ty::wrap(&["Result"], path_buf()),
        ["std", "env", "home_dir"] | ["dirs" | "dirs_next" | "home", _] => Ty::wrap(&["Option"], path_buf()),
        ["std", "time", "Instant", "now"] => Ty::plain(&["std", "time", "Instant"]),
        ["std", "time", "SystemTime", "now"] => Ty::plain(&["std", "time", "SystemTime"]),
        ["std", "fs", "File", "open" | "create" | "create_new"] => {
            Ty::wrap(&["Result"], Ty::plain(&["std", "fs", "File"]))
        }
        ["std", "net", "TcpStream", "connect" | "connect_timeout"] => {
            Ty::wrap(&["Result"], Ty::plain(&["std", "net", "TcpStream"]))
        }
        ["std", "sync", "Arc" | "Mutex" | "RwLock", "new"]
        | ["std", "rc", "Rc", "new"]
        | ["std", "boxed", "Box", "new"] => {
            return None;
        }
        // What `cargo wasp port` wrote in their place.
        ["crate", "wasp_port", "system_time"] => Ty::plain(&["std", "time", "SystemTime"]),
        ["reqwest", "blocking", "Client", "new"] => Ty::plain(&["reqwest", "blocking", "Client"]),
        ["ureq", "agent"] => Ty::plain(&["ureq", "Agent"]),
        _ => return None,
    })
}

/// The return type of `method` called on a `recv` of std (or a
/// catalogued crate), when it matters for what the scan looks for.
pub(crate) fn std_method_return(recv: &Ty, method: &str) -> Option<Ty> {
    let path_buf = || Ty::plain(&["std", "path", "PathBuf"]);
    let inner = recv.deref();
    match (inner.name(), method) {
        ("Path" | "PathBuf", "join" | "with_extension" | "with_file_name" | "to_path_buf" | "to_owned") => {
            Some(path_buf())
        }
        ("Path" | "PathBuf", "parent") => Some(Ty::wrap(&["Option"], Ty::plain(&["std", "path", "Path"]))),
        ("DirEntry", "path") => Some(path_buf()),
        ("Option" | "Result", "unwrap" | "expect" | "unwrap_or" | "unwrap_or_default" | "unwrap_or_else") => {
            inner.first_arg()
        }
        ("Option" | "Result", "as_ref" | "as_mut" | "clone" | "cloned" | "copied" | "take") => Some(inner.clone()),
        ("Mutex", "lock") => Some(Ty::wrap(&["Result"], Ty::wrap(&["MutexGuard"], inner.first_arg()?))),
        ("RwLock", "read" | "write") => Some(Ty::wrap(&["Result"], Ty::wrap(&["MutexGuard"], inner.first_arg()?))),
        ("RefCell", "borrow" | "borrow_mut") => Some(Ty::wrap(&["Ref"], inner.first_arg()?)),
        ("Vec" | "VecDeque" | "HashSet" | "BTreeSet", "iter" | "iter_mut" | "into_iter" | "drain") => {
            Some(Ty::wrap(&["Iter"], inner.first_arg()?))
        }
        ("Iter", "filter" | "rev" | "skip" | "take" | "peekable") => Some(inner.clone()),
        (_, "clone" | "to_owned") => Some(recv.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ty: &str) -> Option<Ty> {
        let ty: syn::Type = syn::parse_str(ty).expect("a type");
        let resolve = |p: Vec<String>| match p.first().map(String::as_str) {
            Some("PathBuf") => vec!["std".into(), "path".into(), "PathBuf".into()],
            Some("Instant") => vec!["std".into(), "time".into(), "Instant".into()],
            _ => p,
        };
        from_syn(&ty, &resolve, Some(&Ty::plain(&["Me"])))
    }

    #[test]
    fn types_resolve_through_imports_and_references() {
        assert_eq!(parse("&PathBuf"), Some(Ty::plain(&["std", "path", "PathBuf"])));
        assert_eq!(parse("Self"), Some(Ty::plain(&["Me"])));
        let opt = parse("Option<Instant>").expect("a type");
        assert_eq!(opt.element(), Some(Ty::plain(&["std", "time", "Instant"])));
        assert_eq!(parse("std::io::Result<PathBuf>").map(|t| t.path), Some(vec!["Result".to_owned()]));
        assert_eq!(parse("impl Fn()"), None);
    }

    #[test]
    fn guards_and_pointers_are_seen_through() {
        let shared = parse("Arc<Mutex<State>>").expect("a type");
        let lock = std_method_return(shared.deref(), "lock").expect("lock");
        let guard = std_method_return(&lock, "unwrap").expect("unwrap");
        assert_eq!(guard.deref(), &Ty::plain(&["State"]));
        let mut index = CrateIndex::default();
        let fields = HashMap::from([("at".to_owned(), Ty::plain(&["std", "time", "Instant"]))]);
        index.add_struct("State".into(), fields);
        assert_eq!(index.field(&guard, "at"), Some(Ty::plain(&["std", "time", "Instant"])));
    }

    #[test]
    fn two_functions_of_one_name_are_not_guessed() {
        let mut index = CrateIndex::default();
        index.add_fn("open".into(), Some(Ty::plain(&["A"])));
        index.add_fn("open".into(), Some(Ty::plain(&["B"])));
        assert_eq!(index.function("open"), None);
    }
}
