//! Making CUDA reachable from a Rust binary.
//!
//! The linker drops `libtorch_cuda.so` under `--as-needed` because no symbol of it is referenced
//! directly, and then libtorch reports no CUDA device even on a GPU machine. Loading the library
//! by hand at start-up (when it exists next to `libtorch_cpu.so`) registers the CUDA backend.

use std::sync::Once;

static LOAD: Once = Once::new();

/// Loads `libtorch_cuda.so` once, if present. Harmless on CPU-only installs.
pub fn ensure_loaded() {
    LOAD.call_once(|| {
        for name in ["libtorch_cuda.so"] {
            let c = std::ffi::CString::new(name).expect("no NUL in library name");
            // SAFETY: dlopen with a valid C string; the handle is intentionally leaked so the
            // library stays loaded for the life of the process.
            unsafe {
                libc_dlopen(c.as_ptr());
            }
        }
    });
}

unsafe extern "C" {
    #[link_name = "dlopen"]
    fn dlopen_raw(filename: *const std::ffi::c_char, flag: std::ffi::c_int) -> *mut std::ffi::c_void;
}

unsafe fn libc_dlopen(name: *const std::ffi::c_char) {
    const RTLD_NOW: std::ffi::c_int = 2;
    const RTLD_GLOBAL: std::ffi::c_int = 0x100;
    // SAFETY: see caller.
    let _ = unsafe { dlopen_raw(name, RTLD_NOW | RTLD_GLOBAL) };
}
