//! Small Kubernetes enums spelled as Rust types, so typos cannot compile.

/// When the kubelet pulls the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImagePullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the node lacks the image (the default).
    #[default]
    IfNotPresent,
    /// Never pull; the image must be preloaded on the node.
    Never,
}

impl ImagePullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// What the kubelet does when the agent container exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Run once; the pod ends Succeeded or Failed (the default for agent runs).
    #[default]
    Never,
    /// Restart after a non-zero exit.
    OnFailure,
    /// Restart after every exit.
    Always,
}

impl RestartPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "Never",
            Self::OnFailure => "OnFailure",
            Self::Always => "Always",
        }
    }
}
