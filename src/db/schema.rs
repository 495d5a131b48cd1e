// The one schema both backends must match (a test compares it with each migrated database).
// Portable types only: ids are UUID text, times are UTC `Timestamp`.

diesel::table! {
    units (id) {
        id -> Text,
        parent_id -> Nullable<Text>,
        code -> Text,
        name -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        full_name -> Text,
        position_title -> Text,
        email -> Text,
        unit_id -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        client_ip -> Nullable<Text>,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        window_start -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        occurred_at -> Timestamp,
        actor_id -> Nullable<Text>,
        on_behalf_of -> Nullable<Text>,
        action -> Text,
        object_type -> Text,
        object_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::joinable!(users -> units (unit_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    units,
    users,
    user_roles,
    sessions,
    login_throttle,
    audit_events,
    audit_head,
);
