//! What a canary's labels and placement say about the host it is planted on.

use std::path::Path;

/// The host, user and operating system `plant` runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The host name.
    pub hostname: String,
    /// The user name.
    pub user: String,
    /// `linux`, `macos`, `windows`, ...
    pub os: String,
}

impl HostFacts {
    /// The facts of this host; `unknown` for what the system does not tell.
    pub fn here() -> HostFacts {
        HostFacts {
            hostname: whoami::hostname().unwrap_or_else(|_| "unknown".to_owned()),
            user: whoami::username().unwrap_or_else(|_| "unknown".to_owned()),
            os: std::env::consts::OS.to_owned(),
        }
    }

    /// The labels a canary planted at `location` gets: `host`, `user`, `os` and `location`.
    pub fn labels(&self, location: &Path) -> Vec<(String, String)> {
        let location = std::path::absolute(location).unwrap_or_else(|_| location.to_owned());
        vec![
            ("host".to_owned(), self.hostname.clone()),
            ("user".to_owned(), self.user.clone()),
            ("os".to_owned(), self.os.clone()),
            ("location".to_owned(), location.display().to_string()),
        ]
    }
}
