//! A real OCI registry (Debian's `docker-registry`, distribution 2.8) on a loopback port, with
//! images pushed by the real `crane` and signed by the real `cosign` (key-based, no
//! transparency log). Both tools are built by `bootstrap/components install`.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, free_port, repo_root};

/// The registry binary Debian installs.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running `docker-registry serve` with filesystem storage in a temp dir; stopped by PID on
/// drop (or by [`Registry::stop`]).
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:<port>`: the registry part of image references.
    pub host: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Registry {
    /// Starts a registry and waits (at most 10 s) until `/v2/` answers.
    ///
    /// # Panics
    /// When `docker-registry` is missing (`apt-get install docker-registry`) or does not start.
    pub fn start() -> Self {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: apt-get install -y docker-registry"
        );
        let dir = TempDir::new("registry");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let log = dir.path().join("registry.log");
        let log_file = std::fs::File::create(&log).expect("registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BIN}: {e}"));
        let mut registry = Registry {
            child: Some(child),
            host,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        while !registry.answers() {
            if start.elapsed() > Duration::from_secs(10) {
                let log = registry.log();
                registry.stop();
                panic!(
                    "docker-registry did not answer on {} within 10 s; its log:\n{log}",
                    registry.host
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `GET /v2/` answers 200.
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(&self.host) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
        if std::io::Write::write_all(&mut s, req.as_bytes()).is_err() {
            return false;
        }
        let mut status = String::new();
        let _ = BufReader::new(s).read_line(&mut status);
        status.contains(" 200 ")
    }

    /// Stops the registry (kill by PID, then wait): later requests are refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The registry's log (access log included).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Requests in the access log whose line contains `needle` (a path such as `.sig`) and
    /// were made by the verifier (user agent `pi-provenance/…`), not by crane or cosign.
    pub fn requests_by_verifier(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("\"pi-provenance/") && l.contains(needle))
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where `cosign` and `crane` are: `$PI_IMAGE_TOOLS`, else what `bootstrap/components
/// image-tools-path` prints.
///
/// # Panics
/// When they are not built, naming the command that builds them.
pub fn image_tools_dir() -> PathBuf {
    let dir = match std::env::var_os("PI_IMAGE_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => {
            let out = Command::new(repo_root().join("bootstrap/components"))
                .arg("image-tools-path")
                .output()
                .expect("bootstrap/components image-tools-path");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    for tool in ["cosign", "crane"] {
        assert!(
            dir.join(tool).exists(),
            "`{tool}` is missing in {}: run `bootstrap/components install` (builds cosign and crane with Go)",
            dir.display()
        );
    }
    dir
}

/// Where the oracles are (`cosign3` among them): `$PI_ORACLES`, else what `bootstrap/components
/// oracles-path` prints.
///
/// # Panics
/// When `cosign3` is not built, naming the command that builds it.
pub fn cosign3_bin() -> PathBuf {
    let dir = match std::env::var_os("PI_ORACLES") {
        Some(d) => PathBuf::from(d),
        None => {
            let out = Command::new(repo_root().join("bootstrap/components"))
                .arg("oracles-path")
                .output()
                .expect("bootstrap/components oracles-path");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    let bin = dir.join("cosign3");
    assert!(
        bin.exists(),
        "`cosign3` is missing in {}: run `bootstrap/components install` (builds cosign v3 with Go)",
        dir.display()
    );
    bin
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The real `crane`, against plain-HTTP loopback registries.
#[derive(Clone, Debug)]
pub struct Crane {
    bin: PathBuf,
    work: PathBuf,
}

impl Crane {
    /// `crane` from [`image_tools_dir`]; scratch files go to `work`.
    pub fn new(work: &Path) -> Self {
        Crane {
            bin: image_tools_dir().join("crane"),
            work: work.to_owned(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--insecure");
        c
    }

    /// Pushes a new, distinct image (one layer of random bytes on an empty base) to `image`
    /// (a tag reference) and returns its digest.
    pub fn push_random(&self, image: &str) -> String {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = self.work.join(format!("layer-{n}"));
        std::fs::create_dir_all(&dir).expect("layer dir");
        let mut noise = [0u8; 64];
        let seed = format!("{n}-{:?}-{}", Instant::now(), std::process::id());
        for (i, b) in seed.bytes().cycle().take(64).enumerate() {
            noise[i] = b ^ (i as u8).wrapping_mul(31);
        }
        std::fs::write(dir.join("noise"), [&noise[..], seed.as_bytes()].concat()).expect("noise");
        let tar = self.work.join(format!("layer-{n}.tar"));
        run(
            Command::new("tar")
                .arg("-cf")
                .arg(&tar)
                .arg("-C")
                .arg(&dir)
                .arg("noise"),
            "tar",
        );
        let out = run(
            self.cmd()
                .arg("append")
                .arg("-f")
                .arg(&tar)
                .args(["-t", image]),
            &format!("crane append -t {image}"),
        );
        digest_of(&String::from_utf8_lossy(&out.stdout), image)
    }

    /// The digest `reference` resolves to.
    pub fn digest(&self, reference: &str) -> String {
        let out = run(self.cmd().args(["digest", reference]), "crane digest");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Copies `src` to `dst` (any references, e.g. signature tags).
    pub fn copy(&self, src: &str, dst: &str) {
        run(
            self.cmd().args(["copy", src, dst]),
            &format!("crane copy {src} {dst}"),
        );
    }

    /// Points tag reference `dst` at the manifest of `src`.
    pub fn tag(&self, src: &str, tag: &str) {
        run(
            self.cmd().args(["tag", src, tag]),
            &format!("crane tag {src} {tag}"),
        );
    }

    /// The raw manifest at `reference`.
    pub fn manifest(&self, reference: &str) -> String {
        let out = run(self.cmd().args(["manifest", reference]), "crane manifest");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Replaces the manifest at tag reference `reference` with `manifest` (`crane edit manifest`
    /// reading stdin).
    pub fn put_manifest(&self, reference: &str, manifest: &str) {
        let mut child = self
            .cmd()
            .args(["edit", "manifest", reference])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crane edit manifest");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), manifest.as_bytes())
            .expect("write manifest");
        let out = child.wait_with_output().expect("crane edit manifest");
        assert!(
            out.status.success(),
            "crane edit manifest {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Makes an image index at tag reference `index` of `manifests` (`crane index append`),
    /// and returns the index digest.
    pub fn index(&self, index: &str, manifests: &[&str]) -> String {
        let mut cmd = self.cmd();
        cmd.args(["index", "append", "-t", index]);
        for m in manifests {
            cmd.args(["-m", m]);
        }
        let out = run(&mut cmd, &format!("crane index append -t {index}"));
        digest_of(&String::from_utf8_lossy(&out.stdout), index)
    }
}

/// The digest in crane's `repo@sha256:…` output line.
fn digest_of(stdout: &str, what: &str) -> String {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.split_once('@').map(|(_, d)| d.trim().to_owned()))
        .unwrap_or_else(|| panic!("no digest in crane's output for {what}: {stdout}"))
}

/// A cosign key pair made by the real `cosign generate-key-pair` (empty password).
#[derive(Clone, Debug)]
pub struct CosignKey {
    /// The encrypted private key file.
    pub key: PathBuf,
    /// The public key file (PEM).
    pub public: PathBuf,
    /// The public key, PEM text.
    pub public_pem: String,
}

/// The real `cosign`, key-based, no transparency log, plain-HTTP registries allowed.
#[derive(Clone, Debug)]
pub struct Cosign {
    bin: PathBuf,
    work: PathBuf,
    v3: bool,
}

impl Cosign {
    /// `cosign` from [`image_tools_dir`]; keys go to `work`.
    pub fn new(work: &Path) -> Self {
        Cosign {
            bin: image_tools_dir().join("cosign"),
            work: work.to_owned(),
            v3: false,
        }
    }

    /// cosign v3 (`cosign3` from [`cosign3_bin`]): its `sign` writes a Sigstore bundle as an
    /// OCI 1.1 referrer (the `sha256-<hex>` tag schema on `docker-registry`).
    pub fn v3(work: &Path) -> Self {
        Cosign {
            bin: cosign3_bin(),
            work: work.to_owned(),
            v3: true,
        }
    }

    /// `cosign import-key-pair --key PEM`: a key made by openssl (RSA, ECDSA, Ed25519) as a
    /// cosign key pair named `name`.
    pub fn import_key(&self, pem: &Path, name: &str) -> CosignKey {
        run(
            self.cmd()
                .arg("import-key-pair")
                .arg("--key")
                .arg(pem)
                .args(["--output-key-prefix", name]),
            "cosign import-key-pair",
        );
        let public = self.work.join(format!("{name}.pub"));
        CosignKey {
            key: self.work.join(format!("{name}.key")),
            public_pem: std::fs::read_to_string(&public).expect("cosign public key"),
            public,
        }
    }

    /// `cosign sign` with `extra` flags before the image, no transparency log, plain HTTP.
    /// cosign v3 signs a bundle with an empty signing config (`cosign signing-config create`:
    /// no Rekor, no TSA), or, with `--new-bundle-format=false`, the legacy `.sig` format.
    pub fn sign_with(&self, image: &str, key: &CosignKey, extra: &[&str]) {
        let mut cmd = self.cmd();
        cmd.arg("sign").arg("--key").arg(&key.key);
        if self.v3 && !extra.contains(&"--new-bundle-format=false") {
            let config = self.work.join("signing-config.json");
            if !config.exists() {
                run(
                    self.cmd()
                        .args(["signing-config", "create", "--out"])
                        .arg(&config),
                    "cosign signing-config create",
                );
            }
            cmd.arg("--signing-config").arg(&config);
        } else if self.v3 {
            cmd.args(["--use-signing-config=false", "--tlog-upload=false"]);
        } else {
            cmd.arg("--tlog-upload=false");
        }
        run(
            cmd.args(["--allow-insecure-registry", "--allow-http-registry", "-y"])
                .args(extra)
                .arg(image),
            &format!("cosign sign {image} {extra:?}"),
        );
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(&self.work)
            .env("COSIGN_PASSWORD", "")
            .env("COSIGN_YES", "true")
            // No network, no TUF root fetch, no update check.
            .env("SIGSTORE_NO_CACHE", "true")
            .env("TUF_ROOT", self.work.join("tuf"));
        c
    }

    /// `cosign generate-key-pair --output-key-prefix NAME`.
    pub fn generate_key(&self, name: &str) -> CosignKey {
        run(
            self.cmd()
                .args(["generate-key-pair", "--output-key-prefix", name]),
            "cosign generate-key-pair",
        );
        let public = self.work.join(format!("{name}.pub"));
        CosignKey {
            key: self.work.join(format!("{name}.key")),
            public_pem: std::fs::read_to_string(&public).expect("cosign public key"),
            public,
        }
    }

    /// `cosign sign --key KEY --tlog-upload=false IMAGE` against a plain-HTTP registry.
    pub fn sign(&self, image: &str, key: &CosignKey) {
        run(
            self.cmd().arg("sign").arg("--key").arg(&key.key).args([
                "--tlog-upload=false",
                "--allow-insecure-registry",
                "--allow-http-registry",
                "-y",
                image,
            ]),
            &format!("cosign sign {image}"),
        );
    }

    /// `cosign copy SRC DST`: the image and its signatures (what reaches a mirror).
    pub fn copy(&self, src: &str, dst: &str) {
        run(
            self.cmd().args([
                "copy",
                "--force",
                "--allow-insecure-registry",
                "--allow-http-registry",
                src,
                dst,
            ]),
            &format!("cosign copy {src} {dst}"),
        );
    }

    /// `cosign verify --key PUB --insecure-ignore-tlog IMAGE`: whether it verified.
    pub fn verify(&self, image: &str, key: &CosignKey) -> bool {
        self.cmd()
            .arg("verify")
            .arg("--key")
            .arg(&key.public)
            .args([
                "--insecure-ignore-tlog=true",
                "--allow-insecure-registry",
                "--allow-http-registry",
                image,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The cosign binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }
}
