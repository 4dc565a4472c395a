//! Canary credentials rendered in the formats they get planted in, and planted into the AWS
//! shared credentials and config files without disturbing the user's own bytes.
//!
//! - [`render`] turns credentials into the text of a [`Format`]: a credentials-file or
//!   config-file profile, shell exports (sh, fish, PowerShell), a `.env` file, the JSON of
//!   `credential_process`, of `aws sts get-session-token` and of a Secrets Manager secret, a
//!   Kubernetes `Secret`, GitHub Actions and GitLab CI variables, or Terraform `.tfvars`.
//!   Rendering is pure, so the CLI, the API, the dashboard and `plant` show the same bytes.
//! - [`ini`] reads the shared files as the AWS CLI reads them and edits their text in place.
//! - [`file`] writes such a file safely: locked, atomically, keeping owner, mode and a backup.
//!
//! ```
//! use placement::{render, Credentials, Format};
//!
//! let credentials = Credentials {
//!     access_key_id: "AKIARTX3GSDS5ZZ46JLN",
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
//!     session_token: None,
//!     expiration: None,
//!     region: "us-east-1",
//! };
//! let profile = render(Format::CREDENTIALS_PROFILE, &credentials, "billing-admin");
//! assert!(profile.starts_with("[billing-admin]\naws_access_key_id = AKIARTX3GSDS5ZZ46JLN\n"));
//! assert_eq!("dotenv".parse::<Format>()?.title(), ".env file");
//! # Ok::<(), placement::UnknownFormat>(())
//! ```

#![warn(missing_docs)]

pub mod file;
mod format;
pub mod ini;

pub use format::{render, Credentials, Format, UnknownFormat};

/// Checks a profile name given by hand: what a section header of both shared files can hold
/// and the AWS CLI's `--profile` can name. Returns why it cannot be used.
pub fn check_profile_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "a profile name has 1 to 64 characters; {name:?} has {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "-_.@+=,".contains(c)))
    {
        return Err(format!(
            "{name:?} holds {bad:?}; a profile name may hold letters, digits and - _ . @ + = ,"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_profile_name;

    #[test]
    fn profile_names_that_would_break_a_header_are_refused() {
        assert!(check_profile_name("billing-admin").is_ok());
        assert!(check_profile_name("ops.deploy@corp").is_ok());
        for bad in ["", "a]b", "a b", "a\nb", "#x", "a;b", &"x".repeat(65)] {
            assert!(check_profile_name(bad).is_err(), "{bad:?}");
        }
    }
}
