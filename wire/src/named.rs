//! Enums that travel as their names (`"trade_office"`), declared once: the enum, the list
//! of all its values, each one's name, and the JSON by that table (`smime::names`, which
//! the S/MIME core's own enums use too): a lookup rather than serde's derive with its match
//! per enum keeps the app's download small.

/// Declares `pub enum $name { $($variant = "json_name",)* }` with `ALL`, `NAMES`,
/// `as_str`, `Display` and serde by name.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$doc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// Every name, in the same order.
            pub const NAMES: &[&str] = &[$($text,)*];

            /// The value as it stands in the JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                smime::names::deserialize(deserializer, $name::ALL, $name::NAMES)
            }
        }
    };
}
pub(crate) use named_enum;
