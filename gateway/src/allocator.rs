//! The gateway's global allocator: mimalloc, asked the way its fast paths want.
//!
//! The `mimalloc` crate's allocator sends every request through `mi_malloc_aligned`; in
//! mimalloc 3 that takes a generic, over-allocating path for any block above 1 KiB or any
//! free block not already at the alignment asked for (a proxied call makes four or five such
//! requests: buffers, boxed futures), where `mi_malloc` would serve it from the size class
//! directly. mimalloc places every block of 16 bytes or more at a 16-byte boundary and
//! smaller ones at 8 (an invariant its allocator asserts), so an alignment of at most 16
//! and at most the size needs no aligned call — the rule Rust's own `System` allocator
//! applies to `malloc`. Larger alignments keep the aligned calls.
//!
//! Measured again with `gateway/bench/instructions.sh` (canned upstream, two runs each,
//! 2026-12): 28,776–28,790 instructions per proxied call with it, 30,570–30,706 with glibc's
//! malloc (the `System` allocator): 6% fewer, above the 5% an `unsafe` block must buy.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every `mi_malloc` block of at least that size has.
const NATURAL: usize = 16;

pub struct Allocator;

fn natural(align: usize, size: usize) -> bool {
    align <= NATURAL && align <= size
}

// SAFETY: every pointer handed out comes from mimalloc with at least the layout's size and
// alignment (see the module comment), and every pointer taken back is one of those, which
// `mi_free`/`mi_realloc*` accept whichever call allocated it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C allocation calls; a null result is passed on as the trait asks.
        unsafe {
            if natural(layout.align(), layout.size()) {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if natural(layout.align(), layout.size()) {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the trait's contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block keeps its
        // alignment (judged by the new size: a block shrunk below 16 bytes may sit at 8).
        unsafe {
            if natural(layout.align(), new_size) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    const SIZES: [usize; 14] = [
        1, 7, 8, 15, 16, 24, 40, 48, 100, 1000, 1025, 4000, 9000, 70_000,
    ];
    const ALIGNS: [usize; 7] = [1, 2, 4, 8, 16, 64, 4096];

    #[test]
    fn every_block_has_its_layouts_size_and_alignment() {
        let a = Allocator;
        for align in ALIGNS {
            for size in SIZES {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // Many at once, so they are not all the same recycled block.
                let blocks: Vec<*mut u8> = (0..32)
                    .map(|i| {
                        // SAFETY: a non-zero size; freed below with the same layout.
                        let p = unsafe { a.alloc(layout) };
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0, "size {size} align {align}");
                        // SAFETY: `p` has `size` writable bytes.
                        unsafe { p.write_bytes(i as u8, size) };
                        p
                    })
                    .collect();
                for (i, p) in blocks.into_iter().enumerate() {
                    // SAFETY: `p` was written in full above.
                    let last = unsafe { *p.add(size - 1) };
                    assert_eq!(last, i as u8);
                    // SAFETY: allocated above with `layout`.
                    unsafe { a.dealloc(p, layout) };
                }
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_and_realloc_keeps_contents_and_alignment() {
        let a = Allocator;
        for align in ALIGNS {
            for size in SIZES {
                let layout = Layout::from_size_align(size, align).expect("layout");
                for new_size in [size / 2 + 1, size * 3] {
                    // SAFETY: a non-zero size.
                    let p = unsafe { a.alloc_zeroed(layout) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0);
                    // SAFETY: `p` has `size` initialised bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(bytes.iter().all(|b| *b == 0), "size {size} align {align}");
                    // SAFETY: `p` has `size` writable bytes.
                    unsafe { p.write_bytes(0xab, size) };
                    // SAFETY: `p` is live, allocated with `layout`.
                    let q = unsafe { a.realloc(p, layout, new_size) };
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "{size} → {new_size}, align {align}");
                    let kept = size.min(new_size);
                    // SAFETY: the first `kept` bytes were carried over.
                    let bytes = unsafe { std::slice::from_raw_parts(q, kept) };
                    assert!(bytes.iter().all(|b| *b == 0xab), "{size} → {new_size}");
                    let resized = Layout::from_size_align(new_size, align).expect("layout");
                    // SAFETY: `q` is the block now, with `resized`.
                    unsafe { a.dealloc(q, resized) };
                }
            }
        }
    }
}
