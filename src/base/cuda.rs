//! Making CUDA reachable from a Rust binary, and finding out quickly whether it works.
//!
//! The linker drops `libtorch_cuda.so` under `--as-needed` because no symbol of it is referenced
//! directly, and then libtorch reports no CUDA device even on a GPU machine. Loading the library
//! by hand at start-up (when it exists next to `libtorch_cpu.so`) registers the CUDA backend.
//!
//! A broken driver can make the first CUDA call block (PyTorch users know `net.cuda()` hanging),
//! so [`probe`] runs it on a helper thread and gives up after a deadline.

use std::sync::{Once, OnceLock};
use std::time::Duration;

use anyhow::{Result, bail};

static LOAD: Once = Once::new();

/// Loads `libtorch_cuda.so` once, if present. Harmless on CPU-only installs.
pub fn ensure_loaded() {
    LOAD.call_once(|| {
        let name = std::ffi::CString::new("libtorch_cuda.so").expect("no NUL in library name");
        // SAFETY: dlopen with a valid C string; the handle is intentionally leaked so the
        // library stays loaded for the life of the process.
        unsafe {
            let _ = dlopen(name.as_ptr(), RTLD_NOW | RTLD_GLOBAL);
        }
    });
}

const RTLD_NOW: std::ffi::c_int = 2;
const RTLD_GLOBAL: std::ffi::c_int = 0x100;

unsafe extern "C" {
    fn dlopen(filename: *const std::ffi::c_char, flag: std::ffi::c_int) -> *mut std::ffi::c_void;
}

/// What the CUDA probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaState {
    /// No usable CUDA (no GPU, no driver, or a CPU-only libtorch).
    Absent,
    /// This many devices, and a tensor could be placed on device 0.
    Usable(usize),
}

static STATE: OnceLock<Result<CudaState, String>> = OnceLock::new();

/// Probes CUDA once per process, with a deadline: availability, device count, and one small
/// allocation on device 0. A probe that does not finish in time is an error, never a hang.
pub fn probe(deadline: Duration) -> Result<CudaState> {
    let r = STATE.get_or_init(|| {
        ensure_loaded();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let state = if tch::Cuda::is_available() {
                let n = tch::Cuda::device_count() as usize;
                match tch::Tensor::f_zeros([1], (tch::Kind::Float, tch::Device::Cuda(0))) {
                    Ok(_) => Ok(CudaState::Usable(n)),
                    Err(e) => Err(format!("CUDA reports {n} device(s) but cannot allocate on cuda:0: {e}")),
                }
            } else {
                Ok(CudaState::Absent)
            };
            let _ = tx.send(state);
        });
        rx.recv_timeout(deadline).unwrap_or_else(|_| {
            Err(format!(
                "CUDA did not initialise within {:.0} s (a wedged driver or GPU?); run with device=\"cpu\" or check nvidia-smi",
                deadline.as_secs_f64()
            ))
        })
    });
    match r {
        Ok(s) => Ok(s.clone()),
        Err(e) => bail!("{e}"),
    }
}
