//! A git-over-ssh server: the real OpenSSH `sshd` (Debian `openssh-server`) on a loopback port,
//! with its own host key and one authorized client key, running `git-upload-pack` for the
//! current user. Stopped by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, free_port};

/// A running `sshd`.
pub struct SshServer {
    child: Child,
    dir: TempDir,
    /// The loopback port.
    pub port: u16,
    /// The user to log in as (the one running the tests).
    pub user: String,
}

/// Makes an ed25519 key pair with `ssh-keygen`; returns the private key path (`.pub` beside it).
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen (apt-get install openssh-client): {e}"));
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

impl SshServer {
    /// Starts `sshd`; `protocol_v2` decides whether it accepts `GIT_PROTOCOL` from clients
    /// (without it, git falls back to protocol v1).
    ///
    /// # Panics
    /// When sshd is missing or does not listen within 10 s.
    pub fn start(protocol_v2: bool) -> Self {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: apt-get install openssh-server"
        );
        let dir = TempDir::new("sshd");
        let host_key = keygen(dir.path(), "host_ed25519");
        let client_key = keygen(dir.path(), "client_ed25519");
        std::fs::copy(
            client_key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .expect("authorized_keys");
        let user = Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .expect("id -un");
        if user == "root" {
            // Privilege separation needs this directory when sshd runs as root.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                 AuthorizedKeysFile {keys}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nLogLevel ERROR\n{accept}",
                host = host_key.display(),
                pid = dir.path().join("sshd.pid").display(),
                keys = dir.path().join("authorized_keys").display(),
                accept = if protocol_v2 {
                    "AcceptEnv GIT_PROTOCOL\n"
                } else {
                    ""
                },
            ),
        )
        .expect("sshd_config");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sshd.log")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sshd: {e}"));
        let server = SshServer {
            child,
            dir,
            port,
            user,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {port}: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `ssh://user@127.0.0.1:port/<path>`.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The authorized client's private key.
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_ed25519")).expect("client key")
    }

    /// A `known_hosts` line for this server's host key.
    pub fn known_hosts(&self) -> String {
        let key =
            std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).expect("host key");
        format!("[127.0.0.1]:{} {}", self.port, key.trim())
    }

    /// The server's log (errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
