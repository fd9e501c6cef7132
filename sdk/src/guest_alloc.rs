//! The guest's allocator pair, `wasp_alloc` and `wasp_dealloc`, shared by
//! the plugin glue (`crate::wasm`) and shared library modules
//! ([`crate::export_library!`]), whatever the plugin's form.

use std::alloc::{Layout, alloc as raw_alloc, dealloc as raw_dealloc};

/// `wasp_alloc`: `len` bytes with alignment 8, or 0.
pub fn alloc(len: i32) -> i32 {
    let Ok(layout) = Layout::from_size_align(len.max(1) as usize, 8) else {
        return 0;
    };
    // SAFETY: the layout has a non-zero size.
    unsafe { raw_alloc(layout) as i32 }
}

/// `wasp_dealloc`.
///
/// # Safety
///
/// `ptr` must come from [`alloc`] called with the same `len`, and not be freed yet.
pub unsafe fn dealloc(ptr: i32, len: i32) {
    if ptr == 0 {
        return;
    }
    let Ok(layout) = Layout::from_size_align(len.max(1) as usize, 8) else {
        return;
    };
    // SAFETY: the caller passes what `alloc` returned for this layout.
    unsafe { raw_dealloc(ptr as *mut u8, layout) }
}
