//! Certificates, keys and kubeconfigs of the local cluster.
//!
//! Why rcgen: generating everything in-process is fast (all of it takes
//! milliseconds, so `up` makes a fresh PKI each time) and needs no openssl
//! command lines. Every identity is a client certificate signed by one CA; the
//! API server authorizes with Node + RBAC like a real cluster.

use std::net::{IpAddr, Ipv4Addr};

use agentpod_testkit::cluster::{API_PORT, NODE_ADDR, NODE_NAME};
use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::host::write_atomic;
use super::layout::Layout;

/// First address of the service range: the `kubernetes` service's IP.
const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 215, 0, 1);

/// The client identities that get a kubeconfig: (file stem, CN, O).
const CLIENTS: [(&str, &str, Option<&str>); 5] = [
    ("admin", "agentpod-admin", Some("system:masters")),
    ("controller-manager", "system:kube-controller-manager", None),
    ("scheduler", "system:kube-scheduler", None),
    ("kubelet", "system:node:agentpod-node", Some("system:nodes")),
    (
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        Some("system:masters"),
    ),
];

/// Writes a fresh CA, serving and client certificates, the service-account
/// key pair and one kubeconfig per client identity.
pub fn generate(layout: &Layout) -> anyhow::Result<()> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "agentpod-local-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);
    write_atomic(&layout.pki_file("ca.crt"), &ca_pem)?;

    let node_ip = IpAddr::V4(NODE_ADDR);
    let apiserver_sans = [
        SanType::DnsName("kubernetes".try_into()?),
        SanType::DnsName("kubernetes.default".try_into()?),
        SanType::DnsName("kubernetes.default.svc".try_into()?),
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(node_ip),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V4(KUBERNETES_SERVICE_IP)),
    ];
    issue(
        layout,
        &issuer,
        "apiserver",
        "kube-apiserver",
        None,
        &apiserver_sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let kubelet_sans = [
        SanType::DnsName(NODE_NAME.try_into()?),
        SanType::IpAddress(node_ip),
    ];
    issue(
        layout,
        &issuer,
        "kubelet-serving",
        NODE_NAME,
        None,
        &kubelet_sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    for (stem, common_name, organization) in CLIENTS {
        issue(
            layout,
            &issuer,
            stem,
            common_name,
            organization,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        if stem != "apiserver-kubelet-client" {
            write_kubeconfig(layout, stem)?;
        }
    }

    let service_accounts = KeyPair::generate()?;
    write_atomic(
        &layout.pki_file("service-accounts.key"),
        service_accounts.serialize_pem(),
    )?;
    write_atomic(
        &layout.pki_file("service-accounts.pub"),
        service_accounts.public_key_pem(),
    )?;
    Ok(())
}

fn issue(
    layout: &Layout,
    issuer: &Issuer<'_, KeyPair>,
    stem: &str,
    common_name: &str,
    organization: Option<&str>,
    sans: &[SanType],
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<()> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
    }
    params.subject_alt_names = sans.to_vec();
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params
        .signed_by(&key, issuer)
        .with_context(|| format!("cannot sign the certificate of {common_name}"))?;
    write_atomic(&layout.pki_file(&format!("{stem}.crt")), cert.pem())?;
    write_atomic(
        &layout.pki_file(&format!("{stem}.key")),
        key.serialize_pem(),
    )?;
    Ok(())
}

/// A kubeconfig for `stem`'s client certificate (files referenced by path),
/// pointing at the API server on the node address, which is reachable from
/// the host and from inside the cluster's network namespace.
fn write_kubeconfig(layout: &Layout, stem: &str) -> anyhow::Result<()> {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "agentpod-local", "cluster": {
            "server": format!("https://{NODE_ADDR}:{API_PORT}"),
            "certificate-authority": layout.pki_file("ca.crt"),
        }}],
        "users": [{"name": stem, "user": {
            "client-certificate": layout.pki_file(&format!("{stem}.crt")),
            "client-key": layout.pki_file(&format!("{stem}.key")),
        }}],
        "contexts": [{"name": "agentpod-local", "context": {"cluster": "agentpod-local", "user": stem}}],
        "current-context": "agentpod-local",
    });
    // JSON is valid YAML, which is what kubeconfig readers expect.
    write_atomic(
        &layout.kubeconfig(stem),
        serde_json::to_string_pretty(&config)?,
    )
}

#[cfg(test)]
mod tests {
    use super::super::layout::Layout;

    #[tokio::test]
    async fn every_kubeconfig_loads_into_a_client_config() {
        let dir = std::env::temp_dir().join(format!("xtask-pki-test-{}", std::process::id()));
        let layout = Layout {
            cache: dir.join("cache"),
            state: dir.join("state"),
        };
        super::generate(&layout).unwrap();
        for user in ["admin", "controller-manager", "scheduler", "kubelet"] {
            let kubeconfig = kube::config::Kubeconfig::read_from(layout.kubeconfig(user)).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .unwrap();
            assert_eq!(config.cluster_url.to_string(), "https://10.213.0.2:6443/");
        }
        let key = std::fs::read_to_string(layout.pki_file("service-accounts.pub")).unwrap();
        assert!(key.starts_with("-----BEGIN PUBLIC KEY-----"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
