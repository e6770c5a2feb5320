//! Enums that travel as their names (`"aes256-cbc"`, `"pdf"`), read and written through a
//! table of names rather than serde's derive, whose match per enum would add to the app's
//! download. The wire crate's enums go the same way.

/// An enum whose values have names, in a table.
pub trait Named: Copy + PartialEq + 'static {
    /// Every value with its name.
    const NAMES: &'static [(Self, &'static str)];

    /// The value's name.
    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(value, _)| *value == self)
            .map_or("", |(_, name)| name)
    }
}

/// Writes `value` as its name.
pub fn serialize<T: Named, S: serde::Serializer>(
    value: T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.name())
}

/// Reads a name and finds its value among `values` (named in the same order by `names`).
pub fn deserialize<'de, T: Copy, D: serde::Deserializer<'de>>(
    deserializer: D,
    values: &[T],
    names: &'static [&'static str],
) -> Result<T, D::Error> {
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
    match names.iter().position(|name| *name == text) {
        Some(index) => Ok(values[index]),
        None => Err(serde::de::Error::unknown_variant(&text, names)),
    }
}

/// Serialize and Deserialize for a [`Named`] enum, with its values and names listed once
/// more as plain slices for the error message.
#[macro_export]
macro_rules! serde_by_name {
    ($name:ident { $($value:path => $text:literal,)* }) => {
        impl $crate::names::Named for $name {
            const NAMES: &'static [(Self, &'static str)] = &[$(($value, $text),)*];
        }

        impl $name {
            /// Every value, in the order of its table.
            pub const ALL: &'static [$name] = &[$($value,)*];
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::names::serialize(*self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::names::deserialize(deserializer, $name::ALL, &[$($text,)*])
            }
        }
    };
}
