//! The six daemons of the cluster: how each is started, tracked and stopped.
//!
//! Why PID files plus a command-line check: `down` must stop exactly the
//! processes `up` started, even from another shell or after a crash, and must
//! never signal a process that merely reused a recorded PID.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentpod_testkit::cluster::{API_PORT, NODE_ADDR, NODE_NAME, SERVICE_CIDR};
use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::layout::Layout;
use super::network::nsenter_prefix;

/// One daemon: its name (PID and log file stem), program and arguments.
pub struct Daemon {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// All daemons in start order (stop order is the reverse).
pub fn all(layout: &Layout) -> Vec<Daemon> {
    let pki = |name: &str| layout.pki_file(name).into_os_string();
    let flag = |name: &str, value: OsString| {
        let mut arg = OsString::from(format!("--{name}="));
        arg.push(value);
        arg
    };
    let plain = |name: &str, value: &str| OsString::from(format!("--{name}={value}"));
    let kubeconfig = |user: &str| flag("kubeconfig", layout.kubeconfig(user).into_os_string());
    vec![
        Daemon {
            name: "etcd",
            program: PathBuf::from("/usr/bin/etcd"),
            args: vec![
                plain("name", "agentpod"),
                flag("data-dir", layout.etcd_data().into_os_string()),
                plain("listen-client-urls", "http://127.0.0.1:2379"),
                plain("advertise-client-urls", "http://127.0.0.1:2379"),
                plain("listen-peer-urls", "http://127.0.0.1:2380"),
                plain("initial-advertise-peer-urls", "http://127.0.0.1:2380"),
                plain("initial-cluster", "agentpod=http://127.0.0.1:2380"),
                plain("log-level", "warn"),
            ],
        },
        Daemon {
            name: "containerd",
            program: PathBuf::from("/usr/bin/containerd"),
            args: vec![flag("config", layout.containerd_config().into_os_string())],
        },
        Daemon {
            name: "kube-apiserver",
            program: layout.k8s_binary("kube-apiserver"),
            args: vec![
                plain("etcd-servers", "http://127.0.0.1:2379"),
                plain("bind-address", "0.0.0.0"),
                plain("secure-port", &API_PORT.to_string()),
                plain("insecure-port", "0"),
                plain("advertise-address", &NODE_ADDR.to_string()),
                plain("service-cluster-ip-range", SERVICE_CIDR),
                plain("authorization-mode", "Node,RBAC"),
                plain("enable-admission-plugins", "NodeRestriction"),
                plain("allow-privileged", "true"),
                flag("client-ca-file", pki("ca.crt")),
                flag("tls-cert-file", pki("apiserver.crt")),
                flag("tls-private-key-file", pki("apiserver.key")),
                flag("kubelet-certificate-authority", pki("ca.crt")),
                flag(
                    "kubelet-client-certificate",
                    pki("apiserver-kubelet-client.crt"),
                ),
                flag("kubelet-client-key", pki("apiserver-kubelet-client.key")),
                plain("kubelet-preferred-address-types", "InternalIP"),
                flag("service-account-key-file", pki("service-accounts.pub")),
                flag(
                    "service-account-signing-key-file",
                    pki("service-accounts.key"),
                ),
                plain("service-account-issuer", "https://kubernetes.default.svc"),
                plain("profiling", "false"),
                flag("audit-policy-file", layout.audit_policy().into_os_string()),
                flag("audit-log-path", layout.audit_log().into_os_string()),
                plain("audit-log-maxsize", "1024"),
                plain("v", "1"),
            ],
        },
        Daemon {
            name: "kube-controller-manager",
            program: layout.k8s_binary("kube-controller-manager"),
            args: vec![
                kubeconfig("controller-manager"),
                flag(
                    "service-account-private-key-file",
                    pki("service-accounts.key"),
                ),
                flag("root-ca-file", pki("ca.crt")),
                plain("use-service-account-credentials", "true"),
                plain("leader-elect", "false"),
                plain("port", "0"),
                plain("secure-port", "0"),
                plain("profiling", "false"),
                plain("v", "1"),
            ],
        },
        Daemon {
            name: "kube-scheduler",
            program: layout.k8s_binary("kube-scheduler"),
            args: vec![
                kubeconfig("scheduler"),
                plain("leader-elect", "false"),
                plain("port", "0"),
                plain("secure-port", "0"),
                plain("profiling", "false"),
            ],
        },
        Daemon {
            name: "kubelet",
            program: layout.k8s_binary("kubelet"),
            args: vec![
                flag("config", layout.kubelet_config().into_os_string()),
                kubeconfig("kubelet"),
                flag("root-dir", layout.kubelet_root().into_os_string()),
                plain("container-runtime", "remote"),
                flag(
                    "container-runtime-endpoint",
                    format!("unix://{}", Layout::containerd_socket().display()).into(),
                ),
                plain("node-ip", &NODE_ADDR.to_string()),
                plain("hostname-override", NODE_NAME),
                plain("v", "1"),
            ],
        },
    ]
}

impl Daemon {
    /// Starts the daemon inside the node network namespace, output to its log
    /// file, in a process group of its own (a Ctrl-C meant for `cargo xtask`
    /// must not kill it behind the teardown's back). Records its PID.
    pub fn start(&self, layout: &Layout) -> anyhow::Result<u32> {
        let log_path = layout.log_file(self.name);
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new("nsenter");
        use std::os::unix::process::CommandExt as _;
        command
            .args(nsenter_prefix())
            .arg(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.name))?;
        let pid = child.id();
        // While this process lives (e.g. `cargo xtask test`), it is the
        // daemon's parent: reap the daemon when it exits, so whoever stops it
        // (`down`, or a test restarting the API server) sees it gone instead
        // of a zombie. When this process exits, init adopts the daemon.
        std::thread::spawn(move || child.wait());
        std::fs::create_dir_all(layout.pids())?;
        std::fs::write(layout.pid_file(self.name), pid.to_string())?;
        Ok(pid)
    }

    /// The recorded PID, if that process is alive and still runs our program.
    pub fn running_pid(&self, layout: &Layout) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(layout.pid_file(self.name))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        is_alive_running(pid, &self.program).then_some(pid)
    }

    /// Error for a daemon that is not up: names it and shows its log's tail.
    pub fn failure(&self, layout: &Layout, what: &str) -> anyhow::Error {
        let log = layout.log_file(self.name);
        anyhow::anyhow!(
            "{} {what}; last lines of {}:\n{}",
            self.name,
            log.display(),
            super::host::tail(&log, 25)
        )
    }

    /// SIGTERM, then SIGKILL after `patience`; removes the PID file.
    pub fn stop(&self, layout: &Layout, patience: Duration) -> anyhow::Result<()> {
        if let Some(pid) = self.running_pid(layout) {
            terminate(pid, &self.program, patience)
                .with_context(|| format!("cannot stop {} (pid {pid})", self.name))?;
        }
        let _ = std::fs::remove_file(layout.pid_file(self.name));
        Ok(())
    }
}

/// Terminates `pid` (SIGTERM, SIGKILL after `patience`) if it still runs `program`.
pub fn terminate(pid: u32, program: &Path, patience: Duration) -> anyhow::Result<()> {
    let target = Pid::from_raw(i32::try_from(pid)?);
    if !is_alive_running(pid, program) {
        return Ok(());
    }
    let _ = kill(target, Signal::SIGTERM);
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if !is_alive_running(pid, program) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(target, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !is_alive_running(pid, program) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("process {pid} survived SIGKILL")
}

/// True while `pid` exists, is not a zombie, and runs a program with the same
/// file name as `program` (by name, not path: a cluster started with another
/// cache dir runs the same daemons from elsewhere and must still be stopped).
pub fn is_alive_running(pid: u32, program: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if state == Some("Z") || state == Some("X") {
        return false;
    }
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    // While a process is inside execve its command line reads as empty.
    if cmdline.is_empty() {
        return true;
    }
    let cmdline = String::from_utf8_lossy(&cmdline);
    let mut args = cmdline.split('\0');
    let name = |arg: &str| Path::new(arg).file_name().map(|n| n.to_os_string());
    let wanted = program.file_name().map(|n| n.to_os_string());
    let argv0 = args.next().unwrap_or_default();
    if name(argv0) == wanted {
        return true;
    }
    // Between its fork and the daemon's exec the child is still `nsenter`.
    name(argv0).is_some_and(|n| n == "nsenter") && args.any(|arg| name(arg) == wanted)
}
