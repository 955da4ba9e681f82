//! The simulated world: countries, cities, networks, clients, domains
//! and user agents. Real names of places and networks, so that enrichment
//! and the defaults meet realistic values; the detector must not depend on
//! any of these strings (issue 13: the defaults once matched this file).

#[derive(Debug, Clone, Copy)]
pub struct City {
    pub name: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
}

const fn city(name: &'static str, country: &'static str, lat: f64, lon: f64) -> City {
    City {
        name,
        country,
        lat,
        lon,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub asn: u32,
    pub org: &'static str,
}

pub(crate) const fn net(asn: u32, org: &'static str) -> Net {
    Net { asn, org }
}

/// Home countries: a city list, broadband ISPs, mobile carriers, UTC offset (minutes).
pub(crate) struct Country {
    pub(crate) cities: &'static [City],
    pub(crate) isps: &'static [Net],
    pub(crate) mobile: &'static [Net],
    pub(crate) offset_min: i32,
    /// The government domain suffix its agencies' sites live under.
    pub(crate) gov_suffix: &'static str,
}

pub(crate) const ID_CITIES: &[City] = &[
    city("Jakarta", "ID", -6.21, 106.85),
    city("Surabaya", "ID", -7.25, 112.75),
    city("Bandung", "ID", -6.91, 107.61),
    city("Medan", "ID", 3.59, 98.67),
    city("Makassar", "ID", -5.14, 119.42),
    city("Denpasar", "ID", -8.65, 115.22),
    city("Yogyakarta", "ID", -7.80, 110.36),
    city("Semarang", "ID", -6.97, 110.42),
    city("Balikpapan", "ID", -1.27, 116.83),
    city("Jayapura", "ID", -2.53, 140.72),
];

pub(crate) const COUNTRIES: &[Country] = &[
    Country {
        cities: ID_CITIES,
        isps: &[
            net(7713, "PT Telekomunikasi Indonesia"),
            net(17451, "Biznet Networks"),
            net(23700, "Linknet-Fastnet ASN"),
            net(63859, "MyRepublic Indonesia"),
            net(4787, "PT Cyberindo Aditama"),
        ],
        mobile: &[
            net(23693, "PT. Telekomunikasi Selular"),
            net(4761, "Indosat Ooredoo Hutchison"),
            net(24203, "PT XL Axiata Tbk"),
        ],
        offset_min: 420,
        gov_suffix: "go.id",
    },
    Country {
        cities: &[
            city("Kuala Lumpur", "MY", 3.139, 101.69),
            city("Johor Bahru", "MY", 1.49, 103.74),
            city("Penang", "MY", 5.41, 100.33),
        ],
        isps: &[net(4788, "TM Net"), net(9534, "Maxis Broadband")],
        mobile: &[net(10030, "Celcom Axiata"), net(38466, "U Mobile")],
        offset_min: 480,
        gov_suffix: "gov.my",
    },
    Country {
        cities: &[
            city("Manila", "PH", 14.60, 120.98),
            city("Cebu", "PH", 10.32, 123.89),
            city("Davao", "PH", 7.19, 125.46),
        ],
        isps: &[
            net(9299, "Philippine Long Distance Telephone"),
            net(132199, "Globe Telecom"),
        ],
        mobile: &[
            net(4775, "Globe Telecoms mobile"),
            net(10139, "Smart Communications"),
        ],
        offset_min: 480,
        gov_suffix: "gov.ph",
    },
    Country {
        cities: &[
            city("Bangkok", "TH", 13.75, 100.50),
            city("Chiang Mai", "TH", 18.79, 98.98),
        ],
        isps: &[net(7470, "True Internet"), net(45758, "Triple T Broadband")],
        mobile: &[
            net(131445, "Advanced Wireless Network"),
            net(24378, "Total Access Communication"),
        ],
        offset_min: 420,
        gov_suffix: "go.th",
    },
];

/// Where staff travel (with the hotel's or venue's network).
pub(crate) const TRIPS: &[(City, Net)] = &[
    (
        city("Singapore", "SG", 1.35, 103.82),
        net(7473, "Singapore Telecommunications"),
    ),
    (
        city("Kuala Lumpur", "MY", 3.139, 101.69),
        net(4788, "TM Net"),
    ),
    (
        city("Tokyo", "JP", 35.68, 139.69),
        net(4713, "NTT Communications"),
    ),
    (city("Sydney", "AU", -33.87, 151.21), net(1221, "Telstra")),
    (city("Amsterdam", "NL", 52.37, 4.90), net(1136, "KPN")),
    (
        city("Washington", "US", 38.90, -77.04),
        net(7922, "Comcast Cable"),
    ),
    (
        city("Jeddah", "SA", 21.49, 39.19),
        net(25019, "Saudi Telecom Company"),
    ),
    (
        city("Seoul", "KR", 37.57, 126.98),
        net(4766, "Korea Telecom"),
    ),
    (city("Geneva", "CH", 46.20, 6.14), net(3303, "Swisscom")),
    (
        city("London", "GB", 51.51, -0.13),
        net(2856, "British Telecommunications"),
    ),
    (city("Beijing", "CN", 39.90, 116.40), net(4134, "Chinanet")),
    (
        city("Bangkok", "TH", 13.75, 100.50),
        net(7470, "True Internet"),
    ),
];

/// Corporate VPN exits abroad (the organisation's own gateway networks).
pub(crate) const VPN_EXITS: &[(City, Net)] = &[
    (
        city("Singapore", "SG", 1.29, 103.85),
        net(138915, "Kementerian Gateway SG"),
    ),
    (
        city("Hong Kong", "HK", 22.32, 114.17),
        net(141995, "Regional Secure Gateway"),
    ),
    (
        city("Tokyo", "JP", 35.69, 139.75),
        net(142032, "Agency Remote Access"),
    ),
];

/// Attackers: residential or mobile origins, and hosting/VPN exits.
pub(crate) const ATTACK_HOMES: &[(City, Net)] = &[
    (city("Lagos", "NG", 6.45, 3.39), net(29465, "MTN Nigeria")),
    (
        city("Ho Chi Minh City", "VN", 10.82, 106.63),
        net(7552, "Viettel Group"),
    ),
    (city("Moscow", "RU", 55.76, 37.62), net(12389, "Rostelecom")),
    (
        city("Sao Paulo", "BR", -23.55, -46.63),
        net(28573, "Claro NXT"),
    ),
    (city("Kyiv", "UA", 50.45, 30.52), net(15895, "Kyivstar")),
    (
        city("Karachi", "PK", 24.86, 67.01),
        net(17557, "Pakistan Telecommunication"),
    ),
    (
        city("Dhaka", "BD", 23.81, 90.41),
        net(24389, "Grameenphone"),
    ),
    (
        city("Bucharest", "RO", 44.43, 26.10),
        net(8708, "RCS & RDS"),
    ),
    (
        city("Jakarta", "ID", -6.21, 106.85),
        net(17451, "Biznet Networks"),
    ),
    (
        city("Medan", "ID", 3.59, 98.67),
        net(7713, "PT Telekomunikasi Indonesia"),
    ),
];

pub(crate) const ATTACK_HOSTING: &[(City, Net)] = &[
    (
        city("Ashburn", "US", 39.04, -77.49),
        net(16509, "Amazon.com"),
    ),
    (
        city("Frankfurt", "DE", 50.11, 8.68),
        net(24940, "Hetzner Online"),
    ),
    (
        city("Amsterdam", "NL", 52.37, 4.90),
        net(14061, "DigitalOcean"),
    ),
    (
        city("Singapore", "SG", 1.35, 103.82),
        net(20473, "The Constant Company (Vultr)"),
    ),
    (city("Paris", "FR", 48.86, 2.35), net(16276, "OVH SAS")),
    (
        city("Bucharest", "RO", 44.43, 26.10),
        net(9009, "M247 Europe"),
    ),
];

pub(crate) const POST_CLIENTS: &[&str] = &[
    "Hootsuite",
    "Meta Business Suite",
    "X Web App",
    "Buffer",
    "Sprout Social",
    "X for iPhone",
];
pub(crate) const COMMON_DOMAINS: &[&str] = &[
    "indonesia.go.id",
    "youtube.com",
    "instagram.com",
    "antaranews.com",
    "kompas.com",
    "detik.com",
    "tempo.co",
    "cnnindonesia.com",
    "bit.ly",
    "s.id",
    "setkab.go.id",
    "presidenri.go.id",
];
pub(crate) const EXTRA_DOMAINS: &[&str] = &[
    "tribunnews.com",
    "liputan6.com",
    "republika.co.id",
    "jakartapost.com",
    "thejakartapost.com",
    "who.int",
    "un.org",
    "worldbank.org",
    "bmkg.go.id",
    "bnpb.go.id",
    "kemlu.go.id",
    "kemkes.go.id",
    "katadata.co.id",
    "bisnis.com",
    "okezone.com",
    "suara.com",
    "viva.co.id",
    "tiktok.com",
    "facebook.com",
    "linkedin.com",
    "medium.com",
    "docs.google.com",
    "forms.gle",
    "drive.google.com",
];
pub(crate) const AGENCIES: &[&str] = &[
    "kemenkes",
    "kemendikbud",
    "kominfo",
    "bmkg",
    "bnpb",
    "polri",
    "kemenkeu",
    "bappenas",
    "kemlu",
    "kemnaker",
    "kementan",
    "kemenhub",
    "kemenpar",
    "bpom",
    "bps",
    "bi",
    "ojk",
    "kpk",
    "bkn",
    "lapan",
];
pub(crate) const FIRST_NAMES: &[&str] = &[
    "rina", "andi", "budi", "sari", "dewi", "agus", "putri", "eko", "wati", "hendra", "yuni",
    "fajar", "indah", "rizky", "nur", "dian", "bayu", "maya", "tono", "lestari", "arif", "sinta",
    "joko", "ratna",
];
pub(crate) const PLATFORMS: &[&str] = &["x", "ig", "fb", "tiktok", "yt"];
pub(crate) const DESKTOP_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
];
pub(crate) const MOBILE_UAS: &[(&str, &str)] = &[
    ("ios", "Twitter-iPhone/10.{v} iOS/17.4 (Apple;iPhone15,2)"),
    (
        "android",
        "TwitterAndroid/10.{v} Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B)",
    ),
    ("ios", "Instagram 3{v}.0 (iPhone14,5; iOS 17_3; id_ID)"),
    (
        "android",
        "Instagram 3{v}.0 Android (33/13; 420dpi; Xiaomi; 2201117TY)",
    ),
];

/// Where management tools' servers post from: cloud regions.
pub(crate) const TOOL_SERVERS: &[(City, Net)] = &[
    (
        city("Ashburn", "US", 39.04, -77.49),
        net(16509, "Amazon.com, Inc."),
    ),
    (
        city("Dublin", "IE", 53.35, -6.26),
        net(16509, "Amazon.com, Inc."),
    ),
    (
        city("Council Bluffs", "US", 41.26, -95.86),
        net(396982, "Google LLC"),
    ),
    (
        city("Prineville", "US", 44.30, -120.83),
        net(32934, "Facebook, Inc."),
    ),
];

/// Cloud desktops and corporate secure gateways staff sign in through
/// (story `cloud_desktop`): hosting networks used for benign reasons.
pub(crate) const CLOUD_DESKTOPS: &[(City, Net)] = &[
    (
        city("Singapore", "SG", 1.29, 103.85),
        net(8075, "Microsoft Corporation"),
    ),
    (
        city("Jakarta", "ID", -6.21, 106.85),
        net(16509, "Amazon.com, Inc."),
    ),
    (
        city("Jakarta", "ID", -6.20, 106.82),
        net(396982, "Google LLC"),
    ),
    (
        city("Singapore", "SG", 1.35, 103.82),
        net(22616, "Zscaler, Inc."),
    ),
    (
        city("Singapore", "SG", 1.30, 103.80),
        net(13335, "Cloudflare, Inc."),
    ),
];

/// Campaign and media agencies' networks (business broadband, coworking
/// spaces, a cloud VPN) and their posting tools (story `agency`).
pub(crate) const AGENCY_NETS: &[(City, Net)] = &[
    (
        city("Jakarta", "ID", -6.22, 106.80),
        net(55699, "PT. Cemerlang Multimedia"),
    ),
    (
        city("Jakarta", "ID", -6.18, 106.83),
        net(45727, "Hutchison CP Telecommunications"),
    ),
    (
        city("Surabaya", "ID", -7.26, 112.74),
        net(38320, "PT. Eka Mas Republik"),
    ),
    (
        city("Singapore", "SG", 1.28, 103.85),
        net(4657, "StarHub Ltd"),
    ),
    (
        city("Jakarta", "ID", -6.21, 106.85),
        net(14061, "DigitalOcean, LLC"),
    ),
];
pub(crate) const AGENCY_TOOLS: &[&str] = &[
    "Planable",
    "Metricool",
    "Publer",
    "SocialBee",
    "Zoho Social",
    "Agorapulse",
];
