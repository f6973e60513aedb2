//! The `keywords!` macro: an enum whose variants are configuration keywords.

/// A keyword that is not one of a type's variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKeyword {
    given: String,
    accepted: Vec<&'static str>,
}

impl UnknownKeyword {
    /// `given` was read where one of `accepted` was expected.
    pub fn new(given: &str, accepted: &[&'static str]) -> UnknownKeyword {
        UnknownKeyword { given: given.to_string(), accepted: accepted.to_vec() }
    }
}

impl std::fmt::Display for UnknownKeyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let accepted: Vec<String> = self.accepted.iter().map(|k| format!("\"{k}\"")).collect();
        write!(f, "`{}` is not one of {}", self.given, accepted.join(", "))
    }
}

impl std::error::Error for UnknownKeyword {}

/// Defines an enum of keywords with `ALL`, `as_str`, `parse`, `Display`, and serde both ways
/// (an unknown keyword is an error that lists the accepted ones).
#[macro_export]
#[doc(hidden)]
macro_rules! keywords {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $kw:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The keyword.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $kw,)+
                }
            }

            /// Reads a keyword (exact, lower case).
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($kw => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Reads a keyword, or says which ones are accepted.
            pub fn try_parse(s: &str) -> Result<$name, $crate::UnknownKeyword> {
                $name::parse(s).ok_or_else(|| {
                    $crate::UnknownKeyword::new(s, &[$($kw,)+])
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                $name::try_parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
