//! Message templates (files under `templates/<language>/<kind>.{subject,txt,html}`, embedded at
//! build time) and the building of a MIME message from an outbox row.
//!
//! Placeholders are `{{name}}`. In the text and HTML bodies a line whose placeholders are all
//! empty is left out (no "Comment:" line without a comment); values are HTML-escaped in the
//! HTML part. lettre encodes non-ASCII subjects and names (RFC 2047) and bodies (quoted-printable
//! or base64, UTF-8).

use super::model::{DigestVars, Language, NotificationKind, NotificationRow, Vars, DIGEST_KIND};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// The three parts of a template.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

macro_rules! template {
    ($lang:literal, $kind:literal) => {
        Template {
            subject: include_str!(concat!("templates/", $lang, "/", $kind, ".subject")),
            text: include_str!(concat!("templates/", $lang, "/", $kind, ".txt")),
            html: include_str!(concat!("templates/", $lang, "/", $kind, ".html")),
        }
    };
}

macro_rules! templates {
    ($lang:ident, $kind:ident, $($name:literal),+) => {
        match ($lang, $kind) {
            $(
                (Language::Vi, $name) => Some(template!("vi", $name)),
                (Language::En, $name) => Some(template!("en", $name)),
            )+
            _ => None,
        }
    };
}

/// The template of a stored kind (a notification kind or `digest`) in a language.
pub fn template(language: Language, kind: &str) -> Option<Template> {
    templates!(
        language,
        kind,
        "task_assigned",
        "task_reminder",
        "task_overdue",
        "task_escalated",
        "returned",
        "rejected",
        "route_finished",
        "document_signed",
        "document_issued",
        "incoming_assigned",
        "digest"
    )
}

/// Fills `{{name}}` placeholders. With `drop_empty_lines`, a line whose placeholders are all
/// empty is left out.
pub fn fill(template: &str, values: &[(&str, String)], drop_empty_lines: bool) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    for line in template.split_inclusive('\n') {
        let mut rendered = String::with_capacity(line.len());
        let mut rest = line;
        let mut placeholders = 0;
        let mut filled = 0;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            rendered.push_str(&rest[..start]);
            placeholders += 1;
            let value = values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if !value.is_empty() {
                filled += 1;
            }
            rendered.push_str(value);
            rest = &rest[start + 2 + len + 2..];
        }
        rendered.push_str(rest);
        if drop_empty_lines && placeholders > 0 && filled == 0 {
            continue;
        }
        out.push_str(&rendered);
    }
    out
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The words for an urgency in a language.
pub fn urgency_label(language: Language, urgency: &str) -> &'static str {
    match (language, urgency) {
        (Language::Vi, "normal") => "Thường",
        (Language::Vi, "urgent") => "Khẩn",
        (Language::Vi, "very_urgent") => "Thượng khẩn",
        (Language::Vi, "flash") => "Hỏa tốc",
        (Language::En, "normal") => "Normal",
        (Language::En, "urgent") => "Urgent",
        (Language::En, "very_urgent") => "Very urgent",
        (Language::En, "flash") => "Flash",
        _ => "",
    }
}

/// The words for a notification kind in a language (digest lines).
pub fn kind_label(language: Language, kind: &str) -> String {
    template(language, kind)
        .map(|t| {
            // The subject reads "[docflow] {{urgency_tag}}Title: …": the title is the label.
            let s = t.subject.trim_start_matches("[docflow] ");
            let s = s.trim_start_matches("{{urgency_tag}}");
            s.split(':').next().unwrap_or(kind).trim().to_string()
        })
        .unwrap_or_else(|| kind.to_string())
}

fn link(public_url: &str, path: &str) -> String {
    format!("{}{}", public_url.trim_end_matches('/'), path)
}

fn values(language: Language, v: &Vars, public_url: &str) -> Vec<(&'static str, String)> {
    let label = urgency_label(language, &v.urgency);
    let tag = if super::service::is_urgent(&v.urgency) {
        format!("[{}] ", label.to_uppercase())
    } else {
        String::new()
    };
    vec![
        ("recipient_name", v.recipient_name.clone()),
        ("document_type", v.document_type.clone()),
        ("symbol", v.symbol.clone()),
        ("subject", v.subject.clone()),
        ("urgency", label.to_string()),
        ("urgency_tag", tag),
        ("deadline", v.deadline.clone()),
        ("sender_name", v.sender_name.clone()),
        ("comment", v.comment.clone()),
        ("link", link(public_url, &v.path)),
    ]
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Subject, text body, HTML body of a row.
pub fn render_parts(
    row: &NotificationRow,
    public_url: &str,
) -> Result<(String, String, String), String> {
    let language = row.language;
    let t = template(language, &row.kind).ok_or_else(|| format!("no template for {}", row.kind))?;
    if row.kind == DIGEST_KIND {
        let d: DigestVars =
            serde_json::from_str(&row.vars).map_err(|e| format!("digest variables: {e}"))?;
        let mut text_items = String::new();
        let mut html_items = String::new();
        for item in &d.items {
            let label = kind_label(language, &item.kind);
            let head = one_line(&format!(
                "{} {} — {}",
                item.vars.document_type, item.vars.symbol, item.vars.subject
            ));
            let url = link(public_url, &item.vars.path);
            text_items.push_str(&format!("- {label}: {head}\n  {url}\n"));
            html_items.push_str(&format!(
                "<li>{}: <a href=\"{}\">{}</a></li>\n",
                escape_html(&label),
                escape_html(&url),
                escape_html(&head)
            ));
        }
        let count = d.items.len().to_string();
        let name = d.recipient_name.clone();
        let subject = one_line(&fill(t.subject, &[("count", count.clone())], false));
        let text = fill(
            t.text,
            &[
                ("recipient_name", name.clone()),
                ("items", text_items.trim_end().to_string()),
            ],
            true,
        );
        let html = fill(
            t.html,
            &[
                ("recipient_name", escape_html(&name)),
                ("items", html_items.trim_end().to_string()),
            ],
            true,
        );
        return Ok((subject, text, html));
    }
    if NotificationKind::parse(&row.kind).is_none() {
        return Err(format!("unknown kind {}", row.kind));
    }
    let v: Vars = serde_json::from_str(&row.vars).map_err(|e| format!("variables: {e}"))?;
    let vals = values(language, &v, public_url);
    let subject = one_line(&fill(t.subject, &vals, false))
        .trim_end_matches(" —")
        .to_string();
    let text = fill(t.text, &vals, true);
    let escaped: Vec<(&str, String)> = vals.iter().map(|(k, x)| (*k, escape_html(x))).collect();
    let html = fill(t.html, &escaped, true);
    Ok((subject, text, html))
}

fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !crate::text::forbidden_in_name(*c))
        .collect()
}

/// What is needed beyond the row to build a message.
pub struct RenderContext<'a> {
    /// The sender (`smtp_from`).
    pub from: &'a Mailbox,
    /// Start of links (`public_url`).
    pub public_url: &'a str,
    /// Reads a file of the store by its key, for attachments.
    pub read_blob: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
}

/// Builds the MIME message of a row: text and HTML alternatives, the attachment when the row
/// names one, and the row's stable Message-ID. An error means the row cannot ever be sent.
pub fn build(row: &NotificationRow, ctx: &RenderContext) -> Result<Message, String> {
    let (subject, text, html) = render_parts(row, ctx.public_url)?;
    // Only the subject and names go into headers; a stored value with a control character
    // (written before the API refused them) would break the header, so the row cannot be sent.
    let subject = header_safe(&subject);
    let name = serde_json::from_str::<serde_json::Value>(&row.vars)
        .ok()
        .and_then(|v| v["recipient_name"].as_str().map(str::to_string))
        .filter(|n| !n.is_empty());
    if let Some(n) = &name {
        crate::text::check_name("recipient_name", n)
            .map_err(|_| format!("the recipient's name {n:?} holds a control character"))?;
    }
    let to = Mailbox::new(
        name,
        row.recipient_email
            .parse()
            .map_err(|e| format!("recipient address {}: {e}", row.recipient_email))?,
    );
    let message_id = row
        .message_id
        .clone()
        .ok_or("the row has no Message-ID yet")?;
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(text))
        .singlepart(SinglePart::html(html));
    let attachment = if row.kind == DIGEST_KIND {
        None
    } else {
        serde_json::from_str::<Vars>(&row.vars)
            .map_err(|e| format!("variables: {e}"))?
            .attachment
    };
    let body = match attachment {
        None => alternative,
        Some(a) => {
            if !crate::storage::valid_key(&a.sha256) {
                return Err(format!("attachment key {} is not a SHA-256", a.sha256));
            }
            let bytes =
                (ctx.read_blob)(&a.sha256).map_err(|e| format!("attachment {}: {e}", a.sha256))?;
            let content_type = ContentType::parse(&a.content_type)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .map_err(|e| format!("attachment content type: {e}"))?;
            MultiPart::mixed()
                .multipart(alternative)
                .singlepart(Attachment::new(header_safe(&a.file_name)).body(bytes, content_type))
        }
    };
    Message::builder()
        .from(ctx.from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id))
        .date_now()
        .multipart(body)
        .map_err(|e| format!("building the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_both_languages() {
        for k in NotificationKind::ALL {
            for l in [Language::Vi, Language::En] {
                let t = template(l, k.as_str()).unwrap_or_else(|| panic!("{k:?} {l:?}"));
                assert!(t.subject.contains("{{subject}}"), "{k:?} {l:?}");
                assert!(t.text.contains("{{link}}"), "{k:?} {l:?}");
                assert!(t.html.contains("{{link}}"), "{k:?} {l:?}");
            }
        }
        assert!(template(Language::Vi, DIGEST_KIND).is_some());
        assert!(template(Language::En, "nothing").is_none());
    }

    #[test]
    fn empty_placeholders_drop_their_line() {
        let out = fill(
            "A: {{a}}\nB: {{b}}\nplain\n",
            &[("a", "x".into()), ("b", String::new())],
            true,
        );
        assert_eq!(out, "A: x\nplain\n");
    }

    #[test]
    fn html_values_are_escaped() {
        assert_eq!(escape_html("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn kind_labels_come_from_the_subjects() {
        assert_eq!(kind_label(Language::Vi, "returned"), "Văn bản bị trả lại");
        assert_eq!(kind_label(Language::En, "task_assigned"), "New task");
    }
}
