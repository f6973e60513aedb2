//! Console sign-in through the organisation's OpenID Provider (`[console.oidc]`): the pure
//! parts (`jwt`: ID tokens and keys; `metadata`: the discovery document; `decide`: whom a
//! token signs in), the sign-ins under way (`pending`) and the provider's conversation
//! (`provider`). The pages are `crate::console_oidc`.

pub(crate) mod decide;
pub(crate) mod jwt;
pub(crate) mod metadata;
pub(crate) mod pending;
pub(crate) mod provider;

pub(crate) use pending::PendingFlows;
pub(crate) use provider::{Provider, ProviderError};

/// Why the OpenID Provider cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    /// `client_secret_file` could not be read.
    #[error("[console.oidc] client_secret_file {path}: {source}")]
    SecretFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP client (resolver, roots).
    #[error(transparent)]
    Client(#[from] sekisho_transport::SetupError),
}

/// The provider of `config` when `"oidc"` is a way to sign in.
pub(crate) fn configured(config: &sekisho_config::Config) -> Result<Option<Provider>, OidcSetupError> {
    if !config.console.allows(sekisho_config::SignInMethod::Oidc) {
        return Ok(None);
    }
    let c = &config.console.oidc;
    let secret = match (&c.client_secret, &c.client_secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|source| OidcSetupError::SecretFile { path: path.display().to_string(), source })?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        (None, None) => String::new(),
    };
    let redirect_uri = format!("{}/sent/oidc/callback", config.portal.url.trim_end_matches('/'));
    let web = sekisho_transport::web::WebClient::new(config)?;
    Ok(Some(Provider::new(c.clone(), secret, redirect_uri, web)))
}
