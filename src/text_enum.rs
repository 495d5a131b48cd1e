//! `text_enum!`: the stable ASCII text form of a typed state or kind, as stored in the database
//! and named in the API (`as_str`, `parse`, `ALL`). One definition for every domain module.

/// Generates the stored/API string forms of an enum with stable ASCII values.
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Stored and API form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the stored form.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
        }
    };
}
