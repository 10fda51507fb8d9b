//! ONNX Runtime: finding the shared library, loading it once per process, and
//! the session settings every model shares.
//!
//! The library is the one shipped in the `onnxruntime` wheel on PyPI (see
//! `scripts/setup`). It is searched in this order: the config's
//! `runtime.onnxruntime`, the `WATCHPOST_ONNXRUNTIME` environment variable,
//! the checkout's `.ort/` only for a development build (a binary inside a
//! Cargo `target/` folder), then `/usr/lib/watchpost/`. Never the working
//! folder: `sudo watchpost check-config` run from a folder anyone can write
//! must not load that folder's library as root, and a `.ort/` that another
//! user could have written is skipped. A missing or wrong library is an
//! error with the path in it, never a panic.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Environment variable naming the ONNX Runtime library file.
pub const ENV_LIBRARY: &str = "WATCHPOST_ONNXRUNTIME";
/// File name looked for in the search folders.
pub const LIBRARY_NAME: &str = "libonnxruntime.so";
/// Where the .deb installs the library.
pub const SYSTEM_DIR: &str = "/usr/lib/watchpost";

crate::config::table! {
    /// `[runtime]`: how ONNX Runtime is loaded and how many threads it may use.
    pub struct RuntimeConfig in "runtime." {
        /// Path of libonnxruntime.so, e.g. "/opt/ort/libonnxruntime.so.1.32.0".
        /// Relative paths are resolved from the config file's folder.
        pub onnxruntime: Option<PathBuf>;
        /// Threads one inference may use inside an operator, e.g. 2. Default 1:
        /// a model then runs one session per core (`[models.<name>] sessions`),
        /// which keeps the cores busier than one inference on several threads.
        pub intra_threads: usize = 1;
        /// Threads running independent operators in parallel, e.g. 1.
        pub inter_threads: usize = 1;
        /// Execution providers to try, in order; the first that registers runs
        /// the model, e.g. ["tensorrt", "cuda", "cpu"]. Default ["cpu"].
        pub providers: Vec<super::providers::Provider> = vec![super::providers::Provider::Cpu];
        /// Let idle inference threads spin, waiting for work, instead of
        /// sleeping, e.g. true. Default false: on a box whose cores also decode
        /// cameras, spinning threads take CPU the decoders need.
        pub spin: bool;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found; looked at: {}. Run scripts/setup, install the watchpost package, \
         or set runtime.onnxruntime (or {ENV_LIBRARY}) to libonnxruntime.so from the onnxruntime wheel",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error("ONNX Runtime library {path} does not exist (set by {origin})")]
    Missing { path: PathBuf, origin: &'static str },
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    Load { path: PathBuf, reason: String },
}

/// Finds the library: the configured path, the environment, then the folders.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(path) = configured {
        return existing(path.to_path_buf(), "runtime.onnxruntime in the config");
    }
    if let Some(path) = std::env::var_os(ENV_LIBRARY).filter(|v| !v.is_empty()) {
        return existing(PathBuf::from(path), ENV_LIBRARY);
    }
    let searched = search_dirs()
        .into_iter()
        .map(|dir| dir.join(LIBRARY_NAME))
        .collect::<Vec<_>>();
    match searched.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(RuntimeError::NotFound { searched }),
    }
}

fn existing(path: PathBuf, origin: &'static str) -> Result<PathBuf, RuntimeError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(RuntimeError::Missing { path, origin })
    }
}

/// The checkout's `.ort/` when this is a development build, then the system folder.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| checkout_ort(&exe)) {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from(SYSTEM_DIR));
    dirs
}

/// `<checkout>/.ort` for a binary in `<checkout>/target/…` (a Cargo build:
/// `Cargo.toml` beside `target/`), if only its owner or root can write it.
fn checkout_ort(exe: &Path) -> Option<PathBuf> {
    let target = exe
        .ancestors()
        .skip(1)
        .take(4)
        .find(|a| a.file_name() == Some("target".as_ref()))?;
    let checkout = target.parent()?;
    if !checkout.join("Cargo.toml").is_file() {
        return None;
    }
    let dir = checkout.join(".ort");
    trusted(&dir).then_some(dir)
}

/// Whether `path` (links followed) belongs to root or to this process's user
/// and no one else may write it.
fn trusted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let me = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    std::fs::metadata(path).is_ok_and(|m| (m.uid() == 0 || m.uid() == me) && m.mode() & 0o022 == 0)
}

/// ONNX Runtime, loaded: the library in use and the process-wide environment
/// every session is built from.
pub struct Runtime {
    pub library: PathBuf,
    pub environment: ort::environment::Environment,
}

static LOADED: OnceLock<Runtime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime once per process.
///
/// ONNX Runtime cannot be unloaded, so once a load succeeded later calls return
/// it; a failed load may be retried with another path.
pub fn init(config: &RuntimeConfig) -> Result<&'static Runtime, RuntimeError> {
    let _serialised = LOADING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(runtime) = LOADED.get() {
        return Ok(runtime);
    }
    let path = locate(config.onnxruntime.as_deref())?;
    let path = path.canonicalize().unwrap_or(path);
    let load_error = |e: &dyn std::fmt::Display| RuntimeError::Load {
        path: path.clone(),
        reason: e.to_string(),
    };
    let environment = ort::init_from(&path)
        .map_err(|e| load_error(&e))?
        .with_name("watchpost")
        .build()
        .map_err(|e| load_error(&e))?;
    Ok(LOADED.get_or_init(|| Runtime {
        library: path,
        environment,
    }))
}

/// Hands the memory freed while loading models back to the system.
///
/// Loading a session parses the whole model file and builds its weights
/// several times over (the file's protobuf, the tensors, the copies laid out
/// for the CPU's kernels); ONNX Runtime frees the intermediate copies, but
/// the C allocator keeps them in its heaps, resident, for the life of the
/// process. `malloc_trim` returns the free pages of every heap.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_path_that_does_not_exist_is_named_in_the_error() {
        let err = locate(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/libonnxruntime.so"), "{text}");
        assert!(text.contains("runtime.onnxruntime"), "{text}");
    }

    #[test]
    fn a_checkout_ort_is_used_only_beside_a_cargo_target_folder() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join(".ort")).unwrap();
        std::fs::create_dir_all(dir.join("target/release")).unwrap();
        let exe = dir.join("target/release/watchpost");
        assert_eq!(checkout_ort(&exe), None, "no Cargo.toml: not a checkout");
        std::fs::write(dir.join("Cargo.toml"), "").unwrap();
        assert_eq!(checkout_ort(&exe), Some(dir.join(".ort")));
        assert_eq!(checkout_ort(&dir.join("usr/bin/watchpost")), None);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(".ort"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(checkout_ort(&exe), None, "a world-writable .ort is skipped");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("watchpost-ort-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
