//! `sekisho smime import FILE.p12 --for PATTERN`: a PKCS#12 file's key and certificate chain
//! written into the data directory (key mode 0600), and the `[[smime.sign]]` lines to add.
//!
//! Exit codes: 0 written; 1 the file cannot be read or opened with the password, or a file
//! already exists; 2 a usage error.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use sekisho_config::{Config, default_smime_paths, smime_pattern_ok};
use sekisho_smime::read_pkcs12;

use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum SmimeCommand {
    /// Import a PKCS#12 file (.p12, .pfx): write its key (mode 0600) and certificate chain
    /// into the data directory and print the [[smime.sign]] table to add.
    Import {
        /// The PKCS#12 file.
        file: PathBuf,
        /// The senders this certificate signs for: an address, a domain, `*@domain` or
        /// `.domain`.
        #[arg(long = "for", value_name = "PATTERN")]
        pattern: String,
        /// A file whose first line is the password (default: asked on the terminal; an
        /// empty answer for a file without one).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: SmimeCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    match command {
        SmimeCommand::Import { file, pattern, password_file } => {
            import(config, source, &file, &pattern, password_file.as_deref())
        }
    }
}

fn password(file: Option<&Path>) -> Result<String, Failure> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Failed(format!("the password file {}: {e}", path.display())))?;
            Ok(text.lines().next().unwrap_or("").to_string())
        }
        None => rpassword::prompt_password("PKCS#12 password: ").map_err(|e| Failure::Failed(e.to_string())),
    }
}

fn import(
    config: &Config,
    source: &ConfigSource,
    file: &Path,
    pattern: &str,
    password_file: Option<&Path>,
) -> Result<(), Failure> {
    if !smime_pattern_ok(pattern) {
        return Err(Failure::Usage(format!("`{pattern}` is not an address, a domain, `*@domain` or `.domain`")));
    }
    let bytes = std::fs::read(file).map_err(|e| Failure::Failed(format!("{}: {e}", file.display())))?;
    let identity = read_pkcs12(&bytes, &password(password_file)?)
        .map_err(|e| Failure::Failed(format!("{}: {e}", file.display())))?;
    let signer = identity.signer().map_err(|e| Failure::Failed(format!("{}: {e}", file.display())))?;
    let (chain_path, key_path) = default_smime_paths(&config.store.path, pattern);
    for path in [&chain_path, &key_path] {
        if path.exists() {
            return Err(Failure::Failed(format!("{} exists; move it away to import again", path.display())));
        }
    }
    let key_pem = identity.key_pem().map_err(|e| Failure::Failed(e.to_string()))?;
    let chain_pem = identity.chain_pem().map_err(|e| Failure::Failed(e.to_string()))?;
    write_private(&key_path, key_pem.as_bytes())?;
    write_private(&chain_path, chain_pem.as_bytes())?;
    outln!(
        "Imported {} ({}) with {} certificate(s).",
        signer.subject(),
        signer.emails().join(", "),
        identity.chain.len()
    );
    if !pattern.contains('*')
        && pattern.contains('@')
        && !signer.emails().iter().any(|e| e.eq_ignore_ascii_case(pattern))
    {
        outln!("Note: the certificate is not for {pattern}; mail from it will go unsigned (the trace says why).");
    }
    outln!("Add to {source}, then restart `sekisho serve`:");
    outln!();
    outln!("[[smime.sign]]");
    outln!("senders = [{}]", toml_string(pattern));
    outln!("certificate = {}", toml_string(&chain_path.display().to_string()));
    outln!("key = {}", toml_string(&key_path.display().to_string()));
    Ok(())
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `bytes` to a new file of mode 0600 (its directory 0700), never over an existing one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let failed = |e: std::io::Error| Failure::Failed(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(failed)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)
}
