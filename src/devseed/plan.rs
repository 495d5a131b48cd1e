//! What the seeder writes, drawn from one seeded random stream: the same seed, sizes and tag
//! give the same rows (ids included). Pure: no I/O.

use super::vocab;
use crate::accounts::model::{Role, UnitRow, UserRow};
use crate::documents::model::{
    fold, Confidentiality, DocumentRow, Kind, RegistrationRow, Status, Urgency, VersionRow,
};
use crate::registry::model::{RegisterRow, Series};
use crate::workflow::engine::{RouteStatus, StageKind, StageStatus, TaskStatus};
use crate::workflow::model::{PolicyName, RouteRow, StageRow, TaskKind, TaskRow};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// The seeded random stream and the ids drawn from it.
pub struct Draw(StdRng);

impl Draw {
    pub fn new(seed: u64, documents: u64, users: u64) -> Draw {
        // Sizes are part of the stream: another size is other data, not a prefix of it.
        let mix = seed ^ documents.rotate_left(21) ^ users.rotate_left(42);
        Draw(StdRng::seed_from_u64(mix))
    }
    pub fn id(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.0.gen())
            .into_uuid()
            .to_string()
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.0.gen_range(0..xs.len())]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.gen_range(0..n.max(1))
    }
    fn percent(&mut self) -> u32 {
        self.0.gen_range(0..100)
    }
    /// 16 bytes for the shared password's salt.
    pub fn salt(&mut self) -> [u8; 16] {
        self.0.gen()
    }
}

/// The seeded people and units; documents refer to them by index.
pub struct Office {
    pub units: Vec<UnitRow>,
    pub users: Vec<UserRow>,
    pub roles: Vec<(String, Role)>,
    /// (unit index, incoming register, outgoing register)
    pub registers: Vec<RegisterRow>,
    /// Per unit below the root: its members' indexes in `users` (head first, clerk second).
    pub members: Vec<Vec<usize>>,
    /// The director and deputy directors (the signers).
    pub leaders: Vec<usize>,
}

/// Fixed times: the data does not depend on the day it is seeded.
pub fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 1, 2)
        .and_then(|d| d.and_hms_opt(1, 30, 0))
        .unwrap_or_default()
}
/// The seeded period: 2024-01-02 to about 2026-11-30.
const SPAN_SECS: i64 = 1063 * 24 * 3600;

fn person(d: &mut Draw) -> (String, String) {
    let family = *d.pick(vocab::FAMILY);
    let middle = *d.pick(vocab::MIDDLE);
    let given = *d.pick(vocab::GIVEN);
    let login = format!("{}.{}", fold(family), fold(given)).replace(' ', "");
    (format!("{family} {middle} {given}"), login)
}

/// Units (the department and up to ten units below it) and `users` people; `tag` is added to
/// unit codes and usernames when the seed is added (`--force`) beside other data.
pub fn office(d: &mut Draw, users: usize, password_hash: &str, tag: &str) -> Office {
    let t0 = epoch();
    let below = (users.saturating_sub(3) / 4).clamp(1, vocab::UNITS.len());
    let mut units = vec![UnitRow {
        id: d.id(),
        parent_id: None,
        code: format!("{}{tag}", vocab::ORG_CODE),
        name: vocab::ORG_NAME.to_string(),
        active: true,
        created_at: t0,
        updated_at: t0,
        head_user_id: None,
    }];
    for (code, name) in &vocab::UNITS[..below] {
        units.push(UnitRow {
            id: d.id(),
            parent_id: Some(units[0].id.clone()),
            code: format!("{code}{tag}"),
            name: name.to_string(),
            ..units[0].clone()
        });
    }
    let mut out = Office {
        units,
        users: Vec::with_capacity(users),
        roles: Vec::new(),
        registers: Vec::new(),
        members: vec![Vec::new(); below],
        leaders: Vec::new(),
    };
    for i in 0..users {
        let (full_name, login) = person(d);
        let (unit, position, roles): (usize, &str, &[Role]) = if i < 3 {
            let title = if i == 0 {
                "Giám đốc"
            } else {
                "Phó Giám đốc"
            };
            (0, title, &[Role::Official])
        } else {
            let u = (i - 3) % below;
            let rank = out.members[u].len();
            match rank {
                0 => (u + 1, "Trưởng phòng", &[Role::Official][..]),
                1 => (u + 1, "Văn thư", &[Role::Clerk, Role::Official][..]),
                2 => (u + 1, "Phó Trưởng phòng", &[Role::Official][..]),
                3 if u == 0 => (u + 1, "Lưu trữ viên", &[Role::Archivist][..]),
                _ => (u + 1, "Chuyên viên", &[Role::Official][..]),
            }
        };
        let id = d.id();
        if unit == 0 {
            out.leaders.push(i);
        } else {
            out.members[unit - 1].push(i);
        }
        for r in roles {
            out.roles.push((id.clone(), *r));
        }
        out.users.push(UserRow {
            id,
            username: format!("{login}{i}{tag}").to_lowercase(),
            password_hash: password_hash.to_string(),
            full_name,
            position_title: position.to_string(),
            email: format!("{login}{i}{tag}@slđtbxh.example.vn").to_lowercase(),
            unit_id: Some(out.units[unit].id.clone()),
            active: true,
            created_at: t0,
            updated_at: t0,
            must_change_password: false,
        });
    }
    out.units[0].head_user_id = Some(out.users[0].id.clone());
    for (u, m) in out.members.iter().enumerate() {
        out.units[u + 1].head_user_id = m.first().map(|&i| out.users[i].id.clone());
    }
    for unit in &out.units[1..] {
        for (kind, name, template) in [
            (Kind::Incoming, "Sổ văn bản đến", "{number}"),
            (Kind::Outgoing, "Sổ văn bản đi", "{number}/{type}-SLĐTBXH"),
        ] {
            out.registers.push(RegisterRow {
                id: d.id(),
                unit_id: unit.id.clone(),
                kind,
                name: format!("{name} - {}", unit.name),
                symbol_template: template.to_string(),
                active: true,
                created_at: t0,
                updated_at: t0,
            });
        }
    }
    out
}

/// The shared file every seeded version points to.
#[derive(Clone)]
pub struct SharedFile {
    pub sha256: String,
    pub size: i64,
}

/// One batch of rows to insert, in foreign-key order.
#[derive(Default)]
pub struct Batch {
    pub documents: Vec<DocumentRow>,
    pub versions: Vec<VersionRow>,
    pub registrations: Vec<RegistrationRow>,
    pub routes: Vec<RouteRow>,
    pub stages: Vec<StageRow>,
    pub tasks: Vec<TaskRow>,
}

/// Register numbers given so far: (register id, series, year) → last number.
pub type Counters = BTreeMap<(String, &'static str, i32), i64>;

/// Draws documents `range` of `total` into `batch`.
pub struct Documents<'a> {
    pub office: &'a Office,
    pub file: &'a SharedFile,
    pub total: u64,
    pub counters: &'a mut Counters,
}

/// How an outgoing document's route stands.
#[derive(Clone, Copy)]
enum RouteFate {
    None,
    Active(usize),
    Completed,
    Returned(usize),
    Rejected(usize),
    Recalled,
}

impl Documents<'_> {
    /// Document `i` (0-based) and everything that hangs on it.
    pub fn draw(&mut self, d: &mut Draw, i: u64, b: &mut Batch) {
        let slot = SPAN_SECS / self.total.max(1) as i64;
        let created =
            epoch() + Duration::seconds(i as i64 * slot + d.below(slot.max(1) as u64) as i64);
        let u = d.below(self.office.members.len() as u64) as usize;
        let members = &self.office.members[u];
        let unit = &self.office.units[u + 1];
        let clerk = members.get(1).or(members.first()).copied().unwrap_or(0);
        let drafter = *d.pick(members);
        let type_code = pick_type(d);
        let subject = format!(
            "{} {} {}",
            d.pick(vocab::subject_head(type_code)),
            d.pick(vocab::TOPICS),
            d.pick(vocab::PLACES)
        );
        let urgency = match d.percent() {
            0..=84 => Urgency::Normal,
            85..=94 => Urgency::Urgent,
            95..=98 => Urgency::VeryUrgent,
            _ => Urgency::Flash,
        };
        let confidentiality = if d.percent() < 2 {
            Confidentiality::Confidential
        } else {
            Confidentiality::Normal
        };
        let incoming = d.percent() < 50;
        let mut doc = DocumentRow {
            id: d.id(),
            kind: if incoming {
                Kind::Incoming
            } else {
                Kind::Outgoing
            },
            status: Status::Draft,
            unit_id: unit.id.clone(),
            created_by: self.office.users[if incoming { clerk } else { drafter }]
                .id
                .clone(),
            type_code: type_code.to_string(),
            number_symbol: None,
            issue_date: None,
            issue_place: Some("Hà Nội".to_string()),
            issuer: None,
            issuer_search: None,
            subject_search: fold(&subject),
            subject,
            signer_name: None,
            signer_position: None,
            recipients: serde_json::json!([d.pick(vocab::RECIPIENTS), "Lưu: VT"]).to_string(),
            urgency,
            confidentiality,
            handling_deadline: None,
            received_at: None,
            received_channel: None,
            page_count: Some(1),
            notes: String::new(),
            acknowledged_at: None,
            acknowledged_by: None,
            returned_at: None,
            return_reason: None,
            signatures_check: None,
            signatures_checked_at: None,
            created_at: created,
            updated_at: created,
        };
        b.versions.push(VersionRow {
            document_id: doc.id.clone(),
            number: 1,
            blob_sha256: self.file.sha256.clone(),
            size: self.file.size,
            file_name: format!("{}.pdf", fold(type_code).to_uppercase()),
            content_type: "application/pdf".to_string(),
            pdf_version: Some("1.4".to_string()),
            page_count: Some(1),
            signable: true,
            signable_reason: None,
            created_at: created,
            created_by: doc.created_by.clone(),
            normalise_reason: None,
        });
        if incoming {
            self.incoming(d, &mut doc, u, b);
        } else {
            self.outgoing(d, &mut doc, u, drafter, b);
        }
        b.documents.push(doc);
    }

    fn register(&self, u: usize, kind: Kind) -> &RegisterRow {
        let k = if kind == Kind::Incoming { 0 } else { 1 };
        &self.office.registers[u * 2 + k]
    }

    fn number(
        &mut self,
        doc: &DocumentRow,
        reg: &RegisterRow,
        at: NaiveDateTime,
    ) -> RegistrationRow {
        let series = if doc.confidentiality.is_classified() {
            Series::Confidential
        } else {
            Series::Normal
        };
        // Vietnam time decides the year (UTC+7).
        let year = (at + Duration::hours(7)).year();
        let n = self
            .counters
            .entry((reg.id.clone(), series.as_str(), year))
            .or_insert(0);
        *n += 1;
        let symbol = if reg.kind == Kind::Outgoing {
            format!("{:02}/{}-{}", n, doc.type_code, vocab::ORG_CODE)
        } else {
            format!("{:02}", n)
        };
        RegistrationRow {
            document_id: doc.id.clone(),
            register_id: reg.id.clone(),
            series,
            year,
            number: *n,
            symbol,
            registered_at: at,
            registered_by: Some(doc.created_by.clone()),
        }
    }

    fn incoming(&mut self, d: &mut Draw, doc: &mut DocumentRow, u: usize, b: &mut Batch) {
        let (issuer, part) = *d.pick(vocab::ISSUERS);
        let issued = doc.created_at - Duration::days(1 + d.below(5) as i64);
        doc.issuer = Some(issuer.to_string());
        doc.issuer_search = Some(fold(issuer));
        doc.number_symbol = Some(format!("{}/{}-{}", 1 + d.below(900), doc.type_code, part));
        doc.issue_date = Some(issued.date());
        doc.signer_name = Some(person(d).0);
        doc.signer_position = Some("Phó Chủ tịch".to_string());
        doc.received_at = Some(doc.created_at);
        doc.received_channel = Some(d.pick(vocab::CHANNELS).to_string());
        doc.handling_deadline = Some((doc.created_at + Duration::days(10)).date());
        let fate = d.percent();
        if fate < 8 {
            doc.status = Status::Received;
            return;
        }
        if fate < 12 {
            doc.status = Status::Returned;
            doc.returned_at = Some(doc.created_at + Duration::hours(2));
            doc.return_reason = Some("Gửi nhầm đơn vị nhận".to_string());
            return;
        }
        doc.status = if fate < 17 {
            Status::Archived
        } else {
            Status::Registered
        };
        doc.acknowledged_at = Some(doc.created_at + Duration::minutes(20));
        doc.acknowledged_by = Some(doc.created_by.clone());
        let at = doc.created_at + Duration::minutes(30);
        let reg = self.register(u, Kind::Incoming).clone();
        b.registrations.push(self.number(doc, &reg, at));
        doc.updated_at = at;
        // Most registered papers are assigned a lead person in the unit; a third still open.
        if d.percent() < 70 {
            let lead = *d.pick(&self.office.members[u]);
            let open = d.percent() < 35 && doc.status == Status::Registered;
            b.tasks.push(TaskRow {
                id: d.id(),
                document_id: doc.id.clone(),
                route_id: None,
                stage_id: None,
                round: 1,
                role: TaskKind::Lead,
                assignee_id: self.office.users[lead].id.clone(),
                unit_id: Some(doc.unit_id.clone()),
                acting_user_id: None,
                capacity: None,
                status: if open {
                    TaskStatus::Pending
                } else {
                    TaskStatus::Completed
                },
                urgency: doc.urgency,
                deadline: Some(at + Duration::days(10)),
                assigned_at: at + Duration::hours(1),
                acted_at: (!open).then(|| at + Duration::days(3)),
                result: (!open).then(|| "Đã xử lý, báo cáo lãnh đạo".to_string()),
                delegated_from: None,
            });
        }
    }

    fn outgoing(
        &mut self,
        d: &mut Draw,
        doc: &mut DocumentRow,
        u: usize,
        drafter: usize,
        b: &mut Batch,
    ) {
        let fate = match d.percent() {
            0..=3 => RouteFate::None,
            4..=18 => RouteFate::Active(0),
            19..=26 => RouteFate::Active(1),
            27..=30 => RouteFate::Active(2),
            31..=84 => RouteFate::Completed,
            85..=90 => RouteFate::Returned(d.below(2) as usize),
            91..=95 => RouteFate::Rejected(d.below(2) as usize),
            _ => RouteFate::Recalled,
        };
        let members = &self.office.members[u];
        // The reviewer: anyone of the unit but the drafter (the head when alone).
        let mut reviewer = *d.pick(members);
        if reviewer == drafter {
            reviewer = members[0];
        }
        let signer = *d.pick(&self.office.leaders);
        let clerk = members.get(1).copied().unwrap_or(members[0]);
        let people = [reviewer, signer, clerk];
        let status = match fate {
            RouteFate::None => return,
            RouteFate::Active(_) => RouteStatus::Active,
            RouteFate::Completed => RouteStatus::Completed,
            RouteFate::Returned(_) => RouteStatus::Returned,
            RouteFate::Rejected(_) => RouteStatus::Rejected,
            RouteFate::Recalled => RouteStatus::Recalled,
        };
        // Where the route stopped (or stands), and how the task there ended.
        let (current, last) = match fate {
            RouteFate::Active(k) => (k, TaskStatus::Pending),
            RouteFate::Completed => (2, TaskStatus::Approved),
            RouteFate::Returned(k) => (k, TaskStatus::Returned),
            RouteFate::Rejected(k) => (k, TaskStatus::Rejected),
            RouteFate::None | RouteFate::Recalled => (0, TaskStatus::Cancelled),
        };
        let started = doc.created_at + Duration::minutes(15);
        let step = Duration::hours(4);
        let route_id = d.id();
        let ended = started + step * (current as i32 + 1);
        b.routes.push(RouteRow {
            id: route_id.clone(),
            document_id: doc.id.clone(),
            template_id: None,
            drafter_id: doc.created_by.clone(),
            status,
            current_stage: current as i32,
            version: 1 + current as i64 + i64::from(last != TaskStatus::Pending),
            created_at: started,
            updated_at: if last == TaskStatus::Pending {
                started + step * current as i32
            } else {
                ended
            },
            finished_at: (last != TaskStatus::Pending).then_some(ended),
            deadline: None,
        });
        for (k, kind) in [StageKind::Review, StageKind::Sign, StageKind::Issue]
            .into_iter()
            .enumerate()
        {
            let stage_status = if k < current || (k == current && status == RouteStatus::Completed)
            {
                StageStatus::Done
            } else if k == current && status == RouteStatus::Active {
                StageStatus::Active
            } else if k == current {
                StageStatus::Closed
            } else {
                StageStatus::Waiting
            };
            let reached = k <= current;
            let stage_id = d.id();
            let user = &self.office.users[people[k]];
            b.stages.push(StageRow {
                id: stage_id.clone(),
                route_id: route_id.clone(),
                position: k as i32,
                kind,
                policy: PolicyName::All,
                quorum: None,
                assignees: serde_json::json!([user.id]).to_string(),
                status: stage_status,
                round: i32::from(reached),
                deadline_days: None,
                signing: "{}".to_string(),
            });
            if !reached {
                continue;
            }
            let assigned = started + step * k as i32;
            let task_status = if k < current {
                TaskStatus::Approved
            } else {
                last
            };
            b.tasks.push(TaskRow {
                id: d.id(),
                document_id: doc.id.clone(),
                route_id: Some(route_id.clone()),
                stage_id: Some(stage_id),
                round: 1,
                role: TaskKind::Approver,
                assignee_id: user.id.clone(),
                unit_id: user.unit_id.clone(),
                acting_user_id: None,
                capacity: None,
                status: task_status,
                urgency: doc.urgency,
                deadline: Some(assigned + Duration::days(3)),
                assigned_at: assigned,
                acted_at: (task_status != TaskStatus::Pending).then_some(assigned + step),
                result: None,
                delegated_from: None,
            });
        }
        doc.updated_at = ended;
        if status == RouteStatus::Completed {
            let leader = &self.office.users[signer];
            doc.signer_name = Some(leader.full_name.clone());
            doc.signer_position = Some(leader.position_title.clone());
            doc.issuer = Some(vocab::ORG_NAME.to_string());
            doc.issuer_search = Some(fold(vocab::ORG_NAME));
            let reg = self.register(u, Kind::Outgoing).clone();
            let r = self.number(doc, &reg, ended);
            doc.number_symbol = Some(r.symbol.clone());
            doc.issue_date = Some((ended + Duration::hours(7)).date());
            doc.status = if d.percent() < 10 {
                Status::Archived
            } else {
                Status::Issued
            };
            b.registrations.push(r);
        }
    }
}

fn pick_type(d: &mut Draw) -> &'static str {
    let total: u32 = vocab::TYPES.iter().map(|t| t.1).sum();
    let mut x = d.below(u64::from(total)) as u32;
    for (code, w) in vocab::TYPES {
        if x < *w {
            return code;
        }
        x -= w;
    }
    "CV"
}
