//! Shared library modules (`docs/libraries.md`), from both sides: a plugin
//! calls one through [`Context::library`](crate::Context::library); a
//! library crate exports its functions with [`export_library!`](crate::export_library).

use serde::de::DeserializeOwned;

use crate::{Context, ErrorCode, WireError};

/// A plugin's handle on one shared library its manifest `uses`, made by
/// [`Context::library`](crate::Context::library).
///
/// The call works the same in every form of the plugin: a WASM plugin runs
/// the library in its own store; for a native or in-process plugin the host
/// runs it for the plugin. Bytes cross by copy; nothing of the library's
/// memory is shared.
pub struct Library<'c, 'a> {
    ctx: &'c mut Context<'a>,
    name: &'c str,
}

impl<'c, 'a> Library<'c, 'a> {
    pub(crate) fn new(ctx: &'c mut Context<'a>, name: &'c str) -> Self {
        Self { ctx, name }
    }

    /// Calls the library's `function` with `input`; its output.
    ///
    /// Errors: `permission_denied` when the manifest does not `use` the
    /// library, `not_found` when it has no such function, `too_large` past
    /// the message-size limit, and `plugin` (1000) with the library's own
    /// message when the function reports a failure.
    pub fn call(&mut self, function: &str, input: &[u8]) -> Result<Vec<u8>, WireError> {
        let service = format!("{}{}/{function}", wasp_protocol::abi::library::SERVICE_PREFIX, self.name);
        self.ctx.call_raw(&service, input)
    }

    /// [`Library::call`] for a function whose output is MessagePack: the
    /// output decoded as `R` (an output that does not decode is
    /// `invalid_message`).
    pub fn call_as<R: DeserializeOwned>(&mut self, function: &str, input: &[u8]) -> Result<R, WireError> {
        let output = self.call(function, input)?;
        wasp_protocol::codec::from_slice(&output).map_err(|e| {
            WireError::new(
                ErrorCode::InvalidMessage,
                format!("library:{}/{function}: the output is not the MessagePack expected: {e}", self.name),
            )
        })
    }
}

/// The `wasp:library` section's bytes from its text (used by [`export_library!`](crate::export_library)).
#[doc(hidden)]
pub const fn section<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Runs one library function for the host: reads the input the host wrote
/// at `(ptr, len)`, calls `f`, and returns the packed `(ptr << 32) | len` of
/// the output buffer: a status byte (0 ok, 1 error) and the output or the
/// error's UTF-8 message, in a buffer `wasp_dealloc(ptr, len)` frees.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub fn run(ptr: i32, len: i32, f: fn(&[u8]) -> Result<Vec<u8>, String>) -> i64 {
    use wasp_protocol::abi::library::{ERR, OK};
    let input: &[u8] = if len <= 0 {
        &[]
    } else {
        // SAFETY: the library ABI has the host write `len` bytes at `ptr`, in a
        // buffer it got from `wasp_alloc(len)` and frees only after this call.
        unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
    };
    let (status, body) = match f(input) {
        Ok(output) => (OK, output),
        Err(message) => (ERR, message.into_bytes()),
    };
    let total = body.len() + 1;
    let Ok(total32) = i32::try_from(total) else { core::arch::wasm32::unreachable() };
    let out = crate::guest_alloc::alloc(total32);
    if out == 0 {
        core::arch::wasm32::unreachable()
    }
    // SAFETY: `alloc` returned `total` writable bytes at `out`.
    let dst = unsafe { core::slice::from_raw_parts_mut(out as usize as *mut u8, total) };
    dst[0] = status;
    dst[1..].copy_from_slice(&body);
    (i64::from(out as u32) << 32) | i64::from(total32 as u32)
}

/// Makes a crate a shared library module (`docs/libraries.md`): on
/// `wasm32` it writes `NAME@VERSION` into the `wasp:library` custom section,
/// exports `wasp_alloc` and `wasp_dealloc`, and exports each listed
/// function `fn(&[u8]) -> Result<Vec<u8>, String>` under the given name with
/// the library ABI's signature `(ptr: i32, len: i32) -> i64`. On other
/// targets it emits nothing (the functions stay ordinary Rust, to test).
///
/// Build the crate as a `cdylib` for `wasm32-unknown-unknown`.
///
/// ```
/// fn shout(input: &[u8]) -> Result<Vec<u8>, String> {
///     let text = std::str::from_utf8(input).map_err(|e| e.to_string())?;
///     Ok(text.to_uppercase().into_bytes())
/// }
///
/// wasp_sdk::export_library! {
///     name = "shout",
///     version = "1.0.0",
///     functions = { shout => shout },
/// }
/// # fn main() { assert_eq!(shout(b"hi").unwrap(), b"HI"); }
/// ```
#[macro_export]
macro_rules! export_library {
    (name = $name:literal, version = $version:literal, functions = { $($export:ident => $func:path),+ $(,)? } $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            const ID: &str = concat!($name, "@", $version);

            #[unsafe(link_section = "wasp:library")]
            #[used]
            static WASP_LIBRARY: [u8; ID.len()] = $crate::library::section::<{ ID.len() }>(ID);

            #[unsafe(no_mangle)]
            extern "C" fn wasp_alloc(len: i32) -> i32 {
                $crate::guest_alloc::alloc(len)
            }

            #[unsafe(no_mangle)]
            extern "C" fn wasp_dealloc(ptr: i32, len: i32) {
                // SAFETY: the library ABI only lets the host free what `wasp_alloc` gave it, with its length.
                unsafe { $crate::guest_alloc::dealloc(ptr, len) }
            }

            $(
                const _: () = {
                    #[unsafe(export_name = stringify!($export))]
                    extern "C" fn export(ptr: i32, len: i32) -> i64 {
                        $crate::library::run(ptr, len, $func)
                    }
                };
            )+
        };
    };
}
