//! One `#[must_use]` consuming setter per public field, named exactly like the field.

/// Generates the setters of an options struct. Kinds:
/// - `text`: `Option<String>` set from anything `Into<String>`;
/// - `some`: `Option<T>` set from a `T`;
/// - `texts`: `Vec<String>` replaced from any iterator of `Into<String>`;
/// - `list`: `Vec<T>` replaced from any iterator of `T`;
/// - `value`: the field's own type (`bool`, an enum, a struct), set as given;
/// - `string`: `String` set from anything `Into<String>`.
macro_rules! setters {
    ($($kind:ident $name:ident: $ty:ty;)*) => {
        $( setters!(@one $kind $name $ty); )*
    };
    (@one text $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), ").")]
        #[must_use]
        pub fn $name(mut self, value: impl Into<String>) -> Self {
            self.$name = Some(value.into());
            self
        }
    };
    (@one some $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), ").")]
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = Some(value);
            self
        }
    };
    (@one texts $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), "), replacing any earlier list.")]
        #[must_use]
        pub fn $name<I, S>(mut self, values: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.$name = values.into_iter().map(Into::into).collect();
            self
        }
    };
    (@one list $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), "), replacing any earlier list.")]
        #[must_use]
        pub fn $name(mut self, values: impl IntoIterator<Item = $ty>) -> Self {
            self.$name = values.into_iter().collect();
            self
        }
    };
    (@one value $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), ").")]
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };
    (@one string $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), ").")]
        #[must_use]
        pub fn $name(mut self, value: impl Into<String>) -> Self {
            self.$name = value.into();
            self
        }
    };
}

pub(crate) use setters;
