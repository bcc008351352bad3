//! Pure pod-spec builder (work in progress).
