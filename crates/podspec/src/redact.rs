//! `Debug` helpers that hide secret values but keep their keys.
//!
//! A caller's `tracing::debug!(?spec)` must not leak an API key, so every
//! type of this crate that holds a secret value formats through these.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;

/// Prints `<redacted>` in place of a value.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A map printed with its keys and `<redacted>` for every value.
struct RedactedValues<'a, V>(&'a BTreeMap<String, V>);

impl<V> fmt::Debug for RedactedValues<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|key| (key, Redacted)))
            .finish()
    }
}

/// A Kubernetes Secret printed without its `data` and `stringData` values.
pub(crate) struct RedactedSecret<'a>(pub(crate) &'a Secret);

impl fmt::Debug for RedactedSecret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = self.0;
        f.debug_struct("Secret")
            .field("metadata", &secret.metadata)
            .field("type_", &secret.type_)
            .field("immutable", &secret.immutable)
            .field("data", &secret.data.as_ref().map(RedactedValues))
            .field(
                "string_data",
                &secret.string_data.as_ref().map(RedactedValues),
            )
            .finish()
    }
}
