//! Who sees what. A document is visible to the clerks of its unit (registering or drafting),
//! to its drafter, to archivists once archived, to users granted access, and to the people it
//! is routed or assigned to (workflow tasks, and deputies of open ones: they count as granted,
//! see `queries::is_routed_to`); a classified one (mật and above) only to granted or routed
//! users. Everyone else gets 404, as for a missing document, so ids leak nothing.

use super::model::{DocumentRow, Status};
use crate::accounts::{CurrentUser, Role};

/// The caller, as far as access rules care.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub id: String,
    pub unit_id: Option<String>,
    pub roles: Vec<Role>,
}

impl From<&CurrentUser> for Viewer {
    fn from(u: &CurrentUser) -> Self {
        Viewer {
            id: u.id.clone(),
            unit_id: u.unit_id.clone(),
            roles: u.roles.clone(),
        }
    }
}

impl Viewer {
    /// Whether the viewer holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// A clerk of `unit_id`.
    pub fn is_clerk_of(&self, unit_id: &str) -> bool {
        self.has(Role::Clerk) && self.unit_id.as_deref() == Some(unit_id)
    }

    /// Whether the viewer may see `doc`; `granted` says whether a grant names them or the
    /// document is routed or assigned to them.
    pub fn can_see(&self, doc: &DocumentRow, granted: bool) -> bool {
        if granted {
            return true;
        }
        if doc.confidentiality.is_classified() {
            return false;
        }
        self.is_clerk_of(&doc.unit_id)
            || doc.created_by == self.id
            || (self.has(Role::Archivist) && doc.status == Status::Archived)
    }

    /// Whether the viewer may change `doc` (new versions, attachments): its drafter while it
    /// is a draft, the clerks of its unit until it is issued or archived.
    pub fn can_edit(&self, doc: &DocumentRow, granted: bool) -> bool {
        if !self.can_see(doc, granted) {
            return false;
        }
        match doc.status {
            Status::Draft => doc.created_by == self.id || self.is_clerk_of(&doc.unit_id),
            Status::Received | Status::Registered => self.is_clerk_of(&doc.unit_id),
            Status::Returned | Status::Issued | Status::Archived => false,
        }
    }
}
