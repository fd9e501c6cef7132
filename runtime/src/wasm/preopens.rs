//! The directories a plugin sees through WASI: one preopen per directory of
//! its `fs.*` grants, rebuilt when a grant is revoked or downgraded.

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasp_protocol::Permission;

use super::Spec;

impl Spec {
    /// The directories of the `fs.*` grants, sorted, each once: the
    /// preopens of a new instance, in descriptor order (3, 4, …).
    pub(super) fn fs_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = self
            .env
            .grants
            .list()
            .into_iter()
            .filter_map(|p| match p {
                Permission::FsRead(d) | Permission::FsWrite(d) => Some(d),
                _ => None,
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// How the grants of this moment let the plugin use `dir`.
    pub(super) fn access(&self, dir: &str) -> Access {
        let grants = &self.env.grants;
        if grants.allows(&Permission::FsWrite(dir.to_owned())) {
            Access::ReadWrite
        } else if grants.allows(&Permission::FsRead(dir.to_owned())) {
            Access::ReadOnly
        } else {
            Access::Revoked
        }
    }

    /// A WASI context with the given directories preopened, in order.
    pub(super) fn wasi_ctx(&self, slots: &[(String, Access)]) -> WasiP1Ctx {
        let mut builder = WasiCtxBuilder::new();
        let name = &self.env.name;
        for (dir, access) in slots {
            let Some((host, guest)) = self.env.services.resolve_dir(name, dir) else {
                tracing::warn!(target: "wasp::audit", plugin = %name, "`{dir}` needs a host data directory; not preopened");
                continue;
            };
            let (host, perms) = match access {
                Access::ReadWrite => (host, FsPerms::ReadWrite),
                Access::ReadOnly => (host, FsPerms::ReadOnly),
                Access::Revoked => match revoked_dir() {
                    Some(empty) => (empty.to_owned(), FsPerms::ReadOnly),
                    None => continue,
                },
            };
            if *access == Access::ReadWrite
                && dir.starts_with(wasp_protocol::DATA_DIR)
                && let Err(e) = std::fs::create_dir_all(&host)
            {
                tracing::warn!(target: "wasp::audit", plugin = %name, "cannot create {}: {e}", host.display());
            }
            if let Err(e) = builder.preopened_dir(&host, &guest, perms) {
                tracing::warn!(target: "wasp::audit", plugin = %name, "cannot preopen {} as `{guest}`: {e}", host.display());
            }
        }
        builder.build_p1()
    }
}

/// How a preopened directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    ReadOnly,
    /// Its grant was revoked: an empty, read-only directory stands in, so
    /// that the descriptors of the others stay where WASI libc expects them.
    Revoked,
}

/// An empty directory standing in for revoked ones, made once per process
/// under the temporary directory with an unguessable name.
fn revoked_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).ok()?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("wasp-revoked-{}-{tag}", std::process::id()));
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::error!(target: "wasp::audit", "cannot create {}: {e}; revoked directories are dropped instead", dir.display());
                None
            }
        }
    })
    .as_deref()
}
