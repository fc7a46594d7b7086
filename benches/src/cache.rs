//! Where benchmark data lives: `<target>/daybook-bench/`, beside the build,
//! so `cargo clean` removes it and a second run reuses prepared databases.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The target directory. The bench executable is
/// `<target>/<profile>/deps/<name>-<hash>`, so it is the third ancestor,
/// whatever `CARGO_TARGET_DIR` says (a relative one would otherwise be
/// taken from the package directory, where `cargo bench` runs benches).
pub fn target() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    exe.ancestors()
        .nth(3)
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
}

/// `<target>/daybook-bench`, created if missing.
pub fn root() -> PathBuf {
    let dir = target().join("daybook-bench");
    fs::create_dir_all(&dir).expect("creating the bench data directory");
    dir
}

/// Criterion's reports: `<target>/criterion`, as Cargo's own layout has it.
pub fn reports() -> PathBuf {
    target().join("criterion")
}

/// A fresh, empty scratch directory `<root>/run/<name>`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("run").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// The cached file `<root>/<key>.schema<N>`, made by `make(tmp)` if
/// missing. `make` writes to a temporary path that is renamed into place
/// only when it finished, so an interrupted preparation is never taken for
/// a fixture. `N` is the database schema this build writes, so a fixture
/// prepared by an older build is never opened by a newer one.
pub fn cached(key: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let key = format!("{key}.schema{}", daybook::SCHEMA_VERSION);
    let key = key.as_str();
    let path = root().join(key);
    if !path.exists() {
        let tmp = root().join(format!("{key}.partial"));
        let _ = fs::remove_file(&tmp);
        eprintln!("preparing {key} (cached in {})", root().display());
        let started = std::time::Instant::now();
        make(&tmp);
        fs::rename(&tmp, &path).expect("moving a prepared fixture into place");
        eprintln!("prepared {key} in {:.1?}", started.elapsed());
    }
    path
}

/// Copies `from` to `to` and flushes the copy to disk, so the writeback of
/// the copy's dirty pages does not land inside the measured code.
pub fn fresh_copy(from: &Path, to: &Path) -> io::Result<()> {
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(sidecar(to, suffix));
    }
    fs::copy(from, to)?;
    fs::File::open(to)?.sync_all()
}

/// `path` with `suffix` appended (SQLite's `-wal` and `-shm` files).
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
