//! `text_enum!`: the stable ASCII text form of a typed state or kind, as stored in the database
//! and named in the API (`as_str`, `parse`, `ALL`), and its diesel mapping to a `Text` column. One
//! definition for every domain module.
//!
//! An enum stored in a column also derives `diesel::AsExpression` and `diesel::FromSqlRow` with
//! `#[diesel(sql_type = diesel::sql_types::Text)]`; the macro gives the `ToSql`/`FromSql` those
//! derives rest on, so row structs hold the enum itself. A stored value that is not one of the
//! enum's texts fails the query (a deserialization error, answered as an internal error): an
//! unreadable status is never silently read as some other status.

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

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(
                        bytes,
                    )?;
                $name::parse(&text).ok_or_else(|| {
                    format!(concat!("unknown stored ", stringify!($name), " {:?}"), text).into()
                })
            }
        }
    };
}
