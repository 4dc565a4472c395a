//! Word lists for canary names: what real service accounts and people are called.
//!
//! Every word is lower-case ASCII and free of the terms the name heuristics flag. Lengths are
//! capped (teams 8, services 10, verbs 9, first names 8, last names 9 characters) so that the
//! longest default template still fits a 32-character federation name.

/// Teams that own service accounts.
pub(crate) const TEAMS: &[&str] = &[
    "billing", "payments", "data", "platform", "infra", "ops", "growth", "search", "identity",
    "mobile", "web", "finance", "risk", "ads", "media", "support", "sales", "checkout", "catalog",
    "pricing", "orders", "shipping", "ml", "core", "edge", "devex", "sre", "qa", "build",
    "release", "partner", "content",
];

/// Systems and data a service account works on.
pub(crate) const SERVICES: &[&str] = &[
    "billing",
    "invoice",
    "ledger",
    "reports",
    "backup",
    "artifact",
    "metrics",
    "logs",
    "audit",
    "export",
    "cdn",
    "dns",
    "email",
    "notify",
    "search",
    "index",
    "cache",
    "queue",
    "events",
    "orders",
    "catalog",
    "inventory",
    "pricing",
    "payroll",
    "crm",
    "erp",
    "etl",
    "warehouse",
    "lake",
    "snapshot",
    "archive",
    "assets",
    "media",
    "images",
    "webhook",
    "gateway",
    "api",
    "auth",
    "session",
    "config",
    "schedule",
    "batch",
    "terraform",
    "jenkins",
    "gitlab",
    "github",
    "datadog",
    "grafana",
    "airflow",
    "spark",
    "kafka",
    "redshift",
    "athena",
    "glue",
    "sftp",
    "ftp",
    "ssm",
    "ecr",
    "build",
    "deploy",
];

/// What a service account does.
pub(crate) const VERBS: &[&str] = &[
    "sync",
    "reader",
    "writer",
    "agent",
    "exporter",
    "importer",
    "uploader",
    "worker",
    "runner",
    "deployer",
    "publisher",
    "consumer",
    "producer",
    "fetcher",
    "builder",
    "loader",
    "indexer",
    "mirror",
    "restore",
    "archiver",
    "collector",
    "poller",
    "notifier",
    "relay",
    "bridge",
    "proxy",
    "daemon",
    "job",
    "task",
    "cron",
    "bot",
    "client",
    "pull",
    "push",
    "ingest",
];

/// Given names, from several languages, as people write them in user names.
pub(crate) const FIRST_NAMES: &[&str] = &[
    "james", "john", "robert", "michael", "david", "maria", "sarah", "emily", "anna", "laura",
    "priya", "anil", "rahul", "deepa", "wei", "li", "jun", "mei", "hiro", "yuki", "kenji", "ahmed",
    "omar", "fatima", "layla", "olga", "ivan", "dmitri", "elena", "sofia", "lucas", "mateo",
    "diego", "carlos", "ana", "pedro", "tom", "ben", "sam", "alex", "chris", "kate", "nina",
    "lena", "jonas", "lars", "erik", "ingrid", "kwame", "amara", "chidi", "ngozi", "tariq",
    "yusuf", "sven", "marco", "giulia", "paolo", "claire", "pierre", "hana", "minji", "joon",
    "arjun", "kavya", "sanjay", "noah", "liam", "emma", "olivia", "grace", "ruth", "paul", "mark",
    "daniel", "rachel",
];

/// Family names, from several languages, as people write them in user names.
pub(crate) const LAST_NAMES: &[&str] = &[
    "morrison",
    "raman",
    "chen",
    "garcia",
    "okafor",
    "smith",
    "johnson",
    "brown",
    "taylor",
    "wilson",
    "nguyen",
    "tran",
    "kim",
    "park",
    "lee",
    "patel",
    "shah",
    "gupta",
    "singh",
    "iyer",
    "rao",
    "kumar",
    "reddy",
    "mehta",
    "khan",
    "ali",
    "hassan",
    "haddad",
    "cohen",
    "levi",
    "muller",
    "schmidt",
    "weber",
    "fischer",
    "meyer",
    "novak",
    "kowalski",
    "nowak",
    "petrov",
    "popescu",
    "rossi",
    "russo",
    "bianchi",
    "costa",
    "silva",
    "santos",
    "pereira",
    "lopez",
    "martinez",
    "gomez",
    "diaz",
    "torres",
    "ramos",
    "moreau",
    "dubois",
    "laurent",
    "bernard",
    "jansen",
    "bakker",
    "visser",
    "larsen",
    "hansen",
    "nielsen",
    "berg",
    "lindqvist",
    "andersen",
    "obrien",
    "murphy",
    "kelly",
    "walsh",
    "byrne",
    "campbell",
    "stewart",
    "fraser",
    "reid",
    "watanabe",
    "tanaka",
    "suzuki",
    "sato",
    "ito",
    "yamada",
    "wang",
    "zhang",
    "liu",
    "huang",
    "zhao",
    "wu",
    "adeyemi",
    "mensah",
    "owusu",
    "osei",
    "mwangi",
    "otieno",
    "harris",
    "clarke",
    "evans",
    "hughes",
    "ward",
    "foster",
    "bennett",
    "hayes",
    "price",
    "russell",
];

/// IAM paths a platform team would file service accounts under.
pub(crate) const SERVICE_PATHS: &[&str] = &[
    "/",
    "/",
    "/service/",
    "/svc/",
    "/ops/",
    "/ci/",
    "/apps/",
    "/automation/",
    "/platform/",
    "/integration/",
];

/// IAM paths people's users are filed under.
pub(crate) const PERSON_PATHS: &[&str] = &[
    "/",
    "/",
    "/users/",
    "/staff/",
    "/engineering/",
    "/dev/",
    "/analysts/",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heuristics::check_name;

    const ALL: [(&str, &[&str], usize); 5] = [
        ("teams", TEAMS, 8),
        ("services", SERVICES, 10),
        ("verbs", VERBS, 9),
        ("first names", FIRST_NAMES, 8),
        ("last names", LAST_NAMES, 9),
    ];

    #[test]
    fn words_are_short_plain_and_unflagged() {
        for (list, words, cap) in ALL {
            for word in words {
                assert!(!word.is_empty() && word.len() <= cap, "{list}: {word}");
                assert!(
                    word.bytes().all(|b| b.is_ascii_lowercase()),
                    "{list}: {word}"
                );
                assert_eq!(check_name(word), [], "{list}: {word}");
            }
        }
    }

    #[test]
    fn lists_have_no_duplicates() {
        for (list, words, _) in ALL {
            let mut sorted = words.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), words.len(), "{list}");
        }
    }

    #[test]
    fn paths_are_valid_and_unflagged() {
        for path in SERVICE_PATHS.iter().chain(PERSON_PATHS) {
            assert!(path.starts_with('/') && path.ends_with('/'), "{path}");
            assert_eq!(check_name(path), [], "{path}");
        }
    }
}
