//! Making CUDA reachable from a Rust binary, and finding out quickly whether it works.
//!
//! The linker drops `libtorch_cuda.so` under `--as-needed` because no symbol of it is referenced
//! directly, and then libtorch reports no CUDA device even on a GPU machine. Loading the library
//! by hand at start-up (when it exists next to `libtorch_cpu.so`) registers the CUDA backend.
//!
//! A broken driver can make the first CUDA call block (PyTorch users know `net.cuda()` hanging),
//! so [`probe`] runs it on a helper thread and gives up after a deadline.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::Result;

static LOADED: OnceLock<Result<(), String>> = OnceLock::new();

/// Why `libtorch_cuda.so` could not be loaded: the dynamic loader's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CudaLoadError(pub String);

/// Loads `libtorch_cuda.so` once. The error says why it could not be loaded: on a CPU-only
/// libtorch that is expected, on a GPU machine it is the reason CUDA is unusable.
pub(crate) fn ensure_loaded() -> Result<(), CudaLoadError> {
    LOADED
        .get_or_init(|| {
            let name = std::ffi::CString::new("libtorch_cuda.so").expect("no NUL in library name");
            // SAFETY: dlopen with a valid C string; the handle is intentionally leaked so the
            // library stays loaded for the life of the process. dlerror returns a C string owned by
            // the loader, read at once.
            unsafe {
                if dlopen(name.as_ptr(), RTLD_NOW | RTLD_GLOBAL).is_null() {
                    let e = dlerror();
                    let reason = if e.is_null() { "unknown".into() } else { std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned() };
                    return Err(format!("libtorch_cuda not loaded: {reason}"));
                }
            }
            Ok(())
        })
        .clone()
        .map_err(CudaLoadError)
}

const RTLD_NOW: std::ffi::c_int = 2;
const RTLD_GLOBAL: std::ffi::c_int = 0x100;

unsafe extern "C" {
    fn dlopen(filename: *const std::ffi::c_char, flag: std::ffi::c_int) -> *mut std::ffi::c_void;
    fn dlerror() -> *const std::ffi::c_char;
}

/// What the CUDA probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaState {
    /// No usable CUDA, and why (libtorch_cuda not loaded, no device visible).
    Absent(String),
    /// This many devices, and a tensor could be placed on the probed one.
    Usable(usize),
}

static STATES: OnceLock<Mutex<HashMap<usize, Result<CudaState, String>>>> = OnceLock::new();

/// Probes CUDA device `index` once per process, with a deadline: the library, availability,
/// device count, and one small allocation on that device (the one this worker was given, not
/// always `cuda:0`). A probe that does not finish in time is an error, never a hang.
pub fn probe(index: usize, deadline: Duration) -> Result<CudaState> {
    let states = STATES.get_or_init(Default::default);
    if let Some(r) = states.lock().expect("probe lock").get(&index) {
        return r.clone().map_err(|e| anyhow::anyhow!("{e}"));
    }
    let r = probe_now(index, deadline);
    states.lock().expect("probe lock").insert(index, r.clone());
    r.map_err(|e| anyhow::anyhow!("{e}"))
}

fn probe_now(index: usize, deadline: Duration) -> Result<CudaState, String> {
    if let Err(reason) = ensure_loaded() {
        return Ok(CudaState::Absent(reason.to_string()));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let state = if tch::Cuda::is_available() {
            let n = tch::Cuda::device_count() as usize;
            if index >= n {
                Ok(CudaState::Usable(n))
            } else {
                match tch::Tensor::f_zeros([1], (tch::Kind::Float, tch::Device::Cuda(index))) {
                    Ok(_) => Ok(CudaState::Usable(n)),
                    Err(e) => Err(format!("CUDA reports {n} device(s) but cannot allocate on cuda:{index}: {e}")),
                }
            }
        } else {
            Ok(CudaState::Absent("libtorch_cuda is loaded but sees no CUDA device (no GPU or no driver)".into()))
        };
        let _ = tx.send(state);
    });
    rx.recv_timeout(deadline).unwrap_or_else(|_| {
        Err(format!(
            "CUDA did not initialise within {:.0} s (a wedged driver or GPU?); run with device=\"cpu\" or check nvidia-smi",
            deadline.as_secs_f64()
        ))
    })
}

/// The marketing name of CUDA device `index` as nvidia-smi reports it, if it answers within two
/// seconds (libtorch's C API has no device-name call).
pub(crate) fn device_name(index: usize) -> Option<String> {
    let mut child = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader", &format!("--id={index}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if let Ok(Some(_)) = child.try_wait() {
            let mut out = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut()?, &mut out).ok()?;
            return Some(out.trim().to_string()).filter(|s| !s.is_empty());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
