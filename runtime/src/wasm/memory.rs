//! Bounds-checked access to guest memory for the host imports: views that
//! never reach outside it, and the status an import's failure becomes.

use wasmtime::Caller;
use wasp_protocol::{ErrorCode, WireError};

use super::state::GuestState;

/// Why an import failed.
pub(super) enum CallError {
    /// The guest broke the ABI: a pointer outside its memory, text that is
    /// not UTF-8. Audited as an invalid call.
    Abi(WireError),
    /// The call itself failed (denied, too large, not found, …).
    Call(WireError),
}

impl From<WireError> for CallError {
    fn from(e: WireError) -> Self {
        Self::Call(e)
    }
}

pub(super) fn out_of_bounds(ptr: i32, len: i32, size: usize) -> CallError {
    CallError::Abi(WireError::new(
        ErrorCode::InvalidArgument,
        format!("pointer {:#x} with length {} is outside the plugin's memory of {size} bytes", ptr as u32, len as u32),
    ))
}

/// Bounds-checked view of guest memory.
pub(super) fn bytes(mem: &[u8], ptr: i32, len: i32) -> Result<&[u8], CallError> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    p.checked_add(l).and_then(|end| mem.get(p..end)).ok_or_else(|| out_of_bounds(ptr, len, mem.len()))
}

/// Bounds-checked, writable view of guest memory.
pub(super) fn bytes_mut(mem: &mut [u8], ptr: i32, len: i32) -> Result<&mut [u8], CallError> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    let size = mem.len();
    p.checked_add(l).and_then(|end| mem.get_mut(p..end)).ok_or_else(|| out_of_bounds(ptr, len, size))
}

pub(super) fn text<'a>(mem: &'a [u8], ptr: i32, len: i32, what: &str) -> Result<&'a str, CallError> {
    std::str::from_utf8(bytes(mem, ptr, len)?)
        .map_err(|e| CallError::Abi(WireError::new(ErrorCode::InvalidArgument, format!("{what} is not UTF-8: {e}"))))
}

/// Stops the guest once the host has quarantined it.
pub(super) fn guard(caller: &Caller<'_, GuestState>) -> wasmtime::Result<()> {
    if caller.data().host.quarantined {
        return Err(wasmtime::Error::msg("the plugin was quarantined"));
    }
    Ok(())
}

/// Runs an import body with guest memory and state; turns an error into a
/// status code and puts its message in the result slot.
pub(super) fn with_memory<R>(
    caller: &mut Caller<'_, GuestState>,
    call: &str,
    f: impl FnOnce(&[u8], &mut GuestState) -> Result<R, CallError>,
) -> Result<R, i32> {
    let result = match caller.data().memory {
        Some(memory) => {
            let (mem, state) = memory.data_and_store_mut(&mut *caller);
            f(mem, state)
        }
        None => Err(CallError::Call(WireError::new(
            ErrorCode::Internal,
            "host call before the plugin's memory was known (from a start function?)",
        ))),
    };
    result.map_err(|e| {
        let state = caller.data_mut();
        let e = match e {
            CallError::Abi(e) => {
                state.host.invalid_call(call, &e);
                e
            }
            CallError::Call(e) => e,
        };
        fail(state, e)
    })
}

pub(super) fn fail(state: &mut GuestState, e: WireError) -> i32 {
    state.result = e.message.into_bytes();
    i32::from(e.code.as_u16())
}

pub(super) fn status(caller: &Caller<'_, GuestState>, r: Result<(), i32>) -> wasmtime::Result<i32> {
    guard(caller)?;
    Ok(r.err().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::{CallError, bytes, bytes_mut, text};
    use wasp_protocol::ErrorCode;

    /// The audited message of an ABI break; panics on anything else.
    fn abi_error<T>(r: Result<T, CallError>) -> String {
        match r {
            Err(CallError::Abi(e)) => {
                assert_eq!(e.code, ErrorCode::InvalidArgument);
                e.message
            }
            Err(CallError::Call(e)) => panic!("an ABI break reported as a failed call: {e}"),
            Ok(_) => panic!("out of bounds, yet allowed"),
        }
    }

    #[test]
    fn views_inside_memory_are_given() {
        let mut mem: Vec<u8> = (0..16).collect();
        assert!(matches!(bytes(&mem, 4, 3), Ok(b) if b == [4, 5, 6]));
        assert!(matches!(bytes(&mem, 16, 0), Ok(b) if b.is_empty()));
        assert!(matches!(bytes(&mem, 0, 16), Ok(b) if b.len() == 16));
        if let Ok(b) = bytes_mut(&mut mem, 14, 2) {
            b.copy_from_slice(&[9, 9]);
        }
        assert_eq!(&mem[13..], [13, 9, 9]);
    }

    #[test]
    fn views_reaching_outside_memory_are_abi_breaks_naming_pointer_and_size() {
        let mut mem = vec![0u8; 16];
        let message = abi_error(bytes(&mem, 10, 7));
        assert_eq!(message, "pointer 0xa with length 7 is outside the plugin's memory of 16 bytes");
        abi_error(bytes(&mem, 17, 0));
        abi_error(bytes_mut(&mut mem, 16, 1));
        // Pointers and lengths are u32: a negative one is far outside, never
        // an index from the end, and their sum never wraps around.
        let message = abi_error(bytes(&mem, -1, 2));
        assert!(message.starts_with("pointer 0xffffffff with length 2 "), "{message}");
        let message = abi_error(bytes(&mem, 0, -1));
        assert!(message.contains("length 4294967295"), "{message}");
        abi_error(bytes_mut(&mut mem, i32::MAX, i32::MAX));
    }

    #[test]
    fn text_must_be_utf8_and_says_what_it_was() {
        let mem = b"topic\xff".to_vec();
        assert!(matches!(text(&mem, 0, 5, "topic"), Ok("topic")));
        let message = abi_error(text(&mem, 0, 6, "topic"));
        assert!(message.starts_with("topic is not UTF-8: "), "{message}");
        abi_error(text(&mem, 4, 9, "topic"));
    }
}
