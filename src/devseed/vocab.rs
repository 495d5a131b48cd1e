//! The words the seeder draws from: a provincial Department of Labour, Invalids and Social
//! Affairs (Sở Lao động - Thương binh và Xã hội), its units, people, partners and subjects.

/// The department itself: the root unit, and the organisation part of outgoing symbols.
pub const ORG_NAME: &str = "Sở Lao động - Thương binh và Xã hội";
/// The department's abbreviation in symbols (`15/QĐ-SLĐTBXH`).
pub const ORG_CODE: &str = "SLĐTBXH";

/// Units under the department: (code, name).
pub const UNITS: &[(&str, &str)] = &[
    ("VP", "Văn phòng Sở"),
    ("KHTC", "Phòng Kế hoạch - Tài chính"),
    ("LĐVL", "Phòng Lao động - Việc làm"),
    ("NCC", "Phòng Người có công"),
    ("BTXH", "Phòng Bảo trợ xã hội"),
    ("GDNN", "Phòng Giáo dục nghề nghiệp"),
    ("TTr", "Thanh tra Sở"),
    ("TEBĐG", "Phòng Trẻ em - Bình đẳng giới"),
    ("TCCB", "Phòng Tổ chức cán bộ"),
    ("PCTNXH", "Phòng Phòng, chống tệ nạn xã hội"),
];

pub const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trịnh", "Lương", "Mai",
];
pub const MIDDLE: &[&str] = &[
    "Văn", "Thị", "Minh", "Thanh", "Hữu", "Đức", "Ngọc", "Quốc", "Thu", "Xuân", "Hồng", "Anh",
    "Kim", "Gia", "Bảo",
];
pub const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Đức", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng",
    "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Ngọc", "Phương", "Quân",
    "Quang", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Vân", "Việt", "Yến",
];

/// Who sends papers to the department: (issuer, symbol part after the type code).
pub const ISSUERS: &[(&str, &str)] = &[
    ("Ủy ban nhân dân tỉnh", "UBND"),
    ("Bộ Lao động - Thương binh và Xã hội", "BLĐTBXH"),
    ("Sở Tài chính", "STC"),
    ("Sở Nội vụ", "SNV"),
    ("Sở Y tế", "SYT"),
    ("Bảo hiểm xã hội tỉnh", "BHXH"),
    ("Ủy ban nhân dân thành phố", "UBND-TP"),
    ("Ủy ban nhân dân huyện Đông Anh", "UBND-ĐA"),
    ("Liên đoàn Lao động tỉnh", "LĐLĐ"),
    ("Hội Cựu chiến binh tỉnh", "HCCB"),
];

/// Types the seeder uses (codes of the managed list, `document_types`), with a weight.
pub const TYPES: &[(&str, u32)] = &[
    ("CV", 40),
    ("QĐ", 15),
    ("TB", 10),
    ("KH", 8),
    ("BC", 10),
    ("TTr", 7),
    ("GM", 6),
    ("HD", 4),
];

/// Subject openings by type code.
pub fn subject_head(type_code: &str) -> &'static [&'static str] {
    match type_code {
        "QĐ" => &[
            "Quyết định phê duyệt danh sách",
            "Quyết định ban hành Quy chế",
            "Quyết định trợ cấp một lần cho",
            "Quyết định thành lập Tổ công tác về",
        ],
        "TB" => &[
            "Thông báo kết luận của Giám đốc Sở về",
            "Thông báo lịch tiếp công dân về",
            "Thông báo tuyển sinh",
        ],
        "KH" => &[
            "Kế hoạch triển khai",
            "Kế hoạch kiểm tra",
            "Kế hoạch tổ chức các hoạt động",
        ],
        "BC" => &[
            "Báo cáo kết quả thực hiện",
            "Báo cáo tình hình",
            "Báo cáo sơ kết 6 tháng về",
        ],
        "TTr" => &[
            "Tờ trình đề nghị phê duyệt",
            "Tờ trình về việc bổ sung kinh phí",
        ],
        "GM" => &["Giấy mời dự hội nghị về", "Giấy mời họp bàn"],
        "HD" => &["Hướng dẫn thực hiện", "Hướng dẫn quy trình giải quyết"],
        _ => &[
            "V/v đề nghị phối hợp",
            "V/v hướng dẫn thực hiện",
            "V/v góp ý dự thảo",
            "V/v báo cáo số liệu",
            "V/v cung cấp thông tin",
        ],
    }
}

/// What the subjects are about.
pub const TOPICS: &[&str] = &[
    "chính sách đối với người có công với cách mạng",
    "trợ giúp xã hội đối với đối tượng bảo trợ xã hội",
    "giải quyết việc làm cho người lao động",
    "an toàn, vệ sinh lao động trong doanh nghiệp",
    "đào tạo nghề cho lao động nông thôn",
    "phòng, chống tệ nạn ma túy, mại dâm",
    "bảo vệ, chăm sóc trẻ em",
    "bình đẳng giới và vì sự tiến bộ của phụ nữ",
    "giảm nghèo bền vững giai đoạn 2021-2025",
    "chi trả trợ cấp ưu đãi qua hệ thống bưu điện",
    "tổ chức Tết Nguyên đán cho đối tượng chính sách",
    "quà tặng của Chủ tịch nước nhân ngày Thương binh - Liệt sĩ 27/7",
    "người lao động đi làm việc ở nước ngoài theo hợp đồng",
    "bảo hiểm thất nghiệp",
    "cải cách hành chính và chuyển đổi số",
];

/// Places the topic is about.
pub const PLACES: &[&str] = &[
    "trên địa bàn tỉnh",
    "tại huyện Đông Anh",
    "tại thành phố",
    "năm 2026",
    "quý IV năm 2026",
    "tại các xã vùng khó khăn",
];

/// Where outgoing documents go (nơi nhận).
pub const RECIPIENTS: &[&str] = &[
    "UBND tỉnh",
    "Bộ LĐTBXH",
    "UBND các huyện, thành phố",
    "Phòng LĐTBXH các huyện",
    "Các phòng, đơn vị thuộc Sở",
    "Lưu: VT",
];

/// How incoming papers arrive (`received_channel`).
pub const CHANNELS: &[&str] = &["paper", "email", "lgsp"];
