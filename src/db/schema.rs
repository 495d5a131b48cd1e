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
        head_user_id -> Nullable<Text>,
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
        must_change_password -> Bool,
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
    audit_pending (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        actor_id -> Nullable<Text>,
        on_behalf_of -> Nullable<Text>,
        action -> Text,
        object_type -> Text,
        object_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    document_types (code) {
        code -> Text,
        name -> Text,
        active -> Bool,
    }
}

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        size -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    registers (id) {
        id -> Text,
        unit_id -> Text,
        kind -> Text,
        name -> Text,
        symbol_template -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    register_counters (register_id, series, year) {
        register_id -> Text,
        series -> Text,
        year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    documents (id) {
        id -> Text,
        kind -> Text,
        status -> Text,
        unit_id -> Text,
        created_by -> Text,
        type_code -> Text,
        number_symbol -> Nullable<Text>,
        issue_date -> Nullable<Date>,
        issue_place -> Nullable<Text>,
        issuer -> Nullable<Text>,
        issuer_search -> Nullable<Text>,
        subject -> Text,
        subject_search -> Text,
        signer_name -> Nullable<Text>,
        signer_position -> Nullable<Text>,
        recipients -> Text,
        urgency -> Text,
        confidentiality -> Text,
        handling_deadline -> Nullable<Date>,
        received_at -> Nullable<Timestamp>,
        received_channel -> Nullable<Text>,
        page_count -> Nullable<Integer>,
        notes -> Text,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        returned_at -> Nullable<Timestamp>,
        return_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        signatures_check -> Nullable<Text>,
        signatures_checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    document_registrations (document_id) {
        document_id -> Text,
        register_id -> Text,
        series -> Text,
        year -> Integer,
        number -> BigInt,
        symbol -> Text,
        registered_at -> Timestamp,
        registered_by -> Nullable<Text>,
    }
}

diesel::table! {
    document_versions (document_id, number) {
        document_id -> Text,
        number -> Integer,
        blob_sha256 -> Text,
        size -> BigInt,
        file_name -> Text,
        content_type -> Text,
        pdf_version -> Nullable<Text>,
        page_count -> Nullable<Integer>,
        signable -> Bool,
        signable_reason -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Text,
        normalise_reason -> Nullable<Text>,
    }
}

diesel::table! {
    document_attachments (id) {
        id -> Text,
        document_id -> Text,
        blob_sha256 -> Text,
        size -> BigInt,
        file_name -> Text,
        content_type -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    document_grants (document_id, user_id) {
        document_id -> Text,
        user_id -> Text,
        granted_by -> Nullable<Text>,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    route_templates (id) {
        id -> Text,
        name -> Text,
        type_code -> Nullable<Text>,
        unit_id -> Nullable<Text>,
        stages -> Text,
        active -> Bool,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    workflow_routes (id) {
        id -> Text,
        document_id -> Text,
        template_id -> Nullable<Text>,
        drafter_id -> Text,
        status -> Text,
        current_stage -> Integer,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        deadline -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workflow_stages (id) {
        id -> Text,
        route_id -> Text,
        position -> Integer,
        kind -> Text,
        policy -> Text,
        quorum -> Nullable<Integer>,
        assignees -> Text,
        status -> Text,
        round -> Integer,
        deadline_days -> Nullable<Integer>,
        signing -> Text,
    }
}

diesel::table! {
    workflow_tasks (id) {
        id -> Text,
        document_id -> Text,
        route_id -> Nullable<Text>,
        stage_id -> Nullable<Text>,
        round -> Integer,
        role -> Text,
        assignee_id -> Text,
        unit_id -> Nullable<Text>,
        acting_user_id -> Nullable<Text>,
        capacity -> Nullable<Text>,
        status -> Text,
        urgency -> Text,
        deadline -> Nullable<Timestamp>,
        assigned_at -> Timestamp,
        acted_at -> Nullable<Timestamp>,
        result -> Nullable<Text>,
        delegated_from -> Nullable<Text>,
    }
}

diesel::table! {
    workflow_actions (id) {
        id -> Text,
        route_id -> Nullable<Text>,
        task_id -> Nullable<Text>,
        user_id -> Text,
        on_behalf_of -> Nullable<Text>,
        capacity -> Nullable<Text>,
        action -> Text,
        comment -> Nullable<Text>,
        target_user_id -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        request_hash -> Nullable<Text>,
        response -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        kind -> Text,
        recipient_id -> Nullable<Text>,
        recipient_email -> Text,
        language -> Text,
        document_id -> Nullable<Text>,
        task_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        vars -> Text,
        urgent -> Bool,
        state -> Text,
        message_id -> Nullable<Text>,
        attempts -> Integer,
        due_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        digest_id -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    substitutions (id) {
        id -> Text,
        user_id -> Text,
        deputy_id -> Text,
        capacity -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_settings (user_id) {
        user_id -> Text,
        language -> Text,
        digest_hour -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    notification_preferences (user_id, kind) {
        user_id -> Text,
        kind -> Text,
        delivery -> Text,
    }
}

diesel::table! {
    signing_credentials (id) {
        id -> Text,
        owner_user_id -> Nullable<Text>,
        owner_unit_id -> Nullable<Text>,
        kind -> Text,
        label -> Text,
        status -> Text,
        cert_der -> Nullable<Binary>,
        chain_der -> Nullable<Binary>,
        subject -> Nullable<Text>,
        issuer -> Nullable<Text>,
        serial -> Nullable<Text>,
        not_before -> Nullable<Timestamp>,
        not_after -> Nullable<Timestamp>,
        cert_sha256 -> Nullable<Text>,
        key_ciphertext -> Nullable<Binary>,
        key_nonce -> Nullable<Binary>,
        key_salt -> Nullable<Binary>,
        key_kdf -> Nullable<Text>,
        kek_id -> Nullable<Text>,
        csc_config -> Nullable<Text>,
        pin_failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    signature_images (id) {
        id -> Text,
        owner_user_id -> Nullable<Text>,
        owner_unit_id -> Nullable<Text>,
        sha256 -> Text,
        size -> BigInt,
        width -> Integer,
        height -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signing_handles (id) {
        id -> Text,
        task_id -> Text,
        user_id -> Text,
        credential_id -> Text,
        document_id -> Text,
        parent_version -> Integer,
        plan -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        certs_pem -> Nullable<Text>,
        remote_transaction -> Nullable<Text>,
        remote_state -> Nullable<Text>,
        remote_reason -> Nullable<Text>,
        next_poll_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> units (unit_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(registers -> units (unit_id));
diesel::joinable!(register_counters -> registers (register_id));
diesel::joinable!(document_versions -> documents (document_id));
diesel::joinable!(document_registrations -> documents (document_id));
diesel::joinable!(document_attachments -> documents (document_id));
diesel::joinable!(document_grants -> documents (document_id));
diesel::joinable!(workflow_stages -> workflow_routes (route_id));
diesel::joinable!(workflow_tasks -> documents (document_id));
diesel::joinable!(workflow_routes -> documents (document_id));

diesel::allow_tables_to_appear_in_same_query!(
    units,
    users,
    user_roles,
    sessions,
    login_throttle,
    audit_events,
    audit_pending,
    audit_head,
    document_types,
    blobs,
    registers,
    register_counters,
    documents,
    document_registrations,
    document_versions,
    document_attachments,
    document_grants,
    route_templates,
    workflow_routes,
    workflow_stages,
    workflow_tasks,
    workflow_actions,
    substitutions,
    notifications,
    notification_settings,
    notification_preferences,
    signing_credentials,
    signature_images,
    signing_handles,
);
