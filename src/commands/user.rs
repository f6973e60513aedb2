//! `sekisho user add|del|list|bind|unbind|addresses`: submission accounts, argon2id hashes in the
//! store, and the sender addresses bound to them (`[senders] bind_to_accounts`).

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_store::users;

use super::DataDir;
use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Add an account or change its password. The password is read from standard input
    /// (first line), or asked twice on a terminal.
    Add { name: String },
    /// Remove an account.
    Del { name: String },
    /// List accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Bind a sender address to an account (`[senders] bind_to_accounts`).
    Bind { name: String, address: String },
    /// Remove a sender address from an account.
    Unbind { name: String, address: String },
    /// The sender addresses bound to an account.
    Addresses { name: String },
}

pub(crate) async fn run(command: UserCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    // Accounts may be added before the first `serve`; nothing else makes a data directory.
    let data_dir = if matches!(command, UserCommand::Add { .. }) { DataDir::Create } else { DataDir::MustExist };
    let store = super::open_store(config, source, data_dir).await?.0.accounts;
    let failed = |e: sekisho_store::StoreError| Failure::Failed(e.to_string());
    match command {
        UserCommand::Add { name } => {
            if !users::valid_user_name(&name) {
                return Err(Failure::Usage(format!("`{name}` is not a valid user name (1-64 characters, no spaces)")));
            }
            let password = read_password()?;
            let hash = tokio::task::spawn_blocking(move || users::hash_password(&password))
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            store.put_user(&name, &hash).await.map_err(failed)?;
            outln!("user {name} saved");
            Ok(())
        }
        UserCommand::Del { name } => {
            if store.delete_user(&name).await.map_err(failed)? {
                outln!("user {name} removed");
                Ok(())
            } else {
                Err(Failure::Failed(format!("no user {name}")))
            }
        }
        UserCommand::Bind { name, address } => {
            let valid = address.rsplit_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
                && !address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'));
            if !valid {
                return Err(Failure::Usage(format!("`{address}` is not an e-mail address")));
            }
            if store.bind_address(&name, &address).await.map_err(failed)? {
                outln!("{address} bound to user {name}");
                Ok(())
            } else {
                Err(Failure::Failed(format!("no user {name}")))
            }
        }
        UserCommand::Unbind { name, address } => {
            if store.unbind_address(&name, &address).await.map_err(failed)? {
                outln!("{address} no longer bound to user {name}");
                Ok(())
            } else {
                Err(Failure::Failed(format!("{address} is not bound to user {name}")))
            }
        }
        UserCommand::Addresses { name } => {
            for a in store.addresses(&name).await.map_err(failed)? {
                outln!("{a}");
            }
            Ok(())
        }
        UserCommand::List { json } => {
            let list = store.users().await.map_err(failed)?;
            if json {
                return print_json(&list);
            }
            for u in &list {
                outln!("{}  (since {})", u.name, format_time(&config.time_zone, u.created_at));
            }
            Ok(())
        }
    }
}

/// A password or passphrase: asked twice on a terminal, else stdin's first line.
pub(crate) fn read_password() -> Result<String, Failure> {
    let password = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("password: ").map_err(|e| Failure::Failed(e.to_string()))?;
        let b = rpassword::prompt_password("again: ").map_err(|e| Failure::Failed(e.to_string()))?;
        if a != b {
            return Err(Failure::Usage("the passwords differ".into()));
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| Failure::Failed(e.to_string()))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        return Err(Failure::Usage("empty password".into()));
    }
    Ok(password)
}
