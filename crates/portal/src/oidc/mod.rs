//! Console sign-in through the organisation's OpenID Provider (`[console.oidc]`).

pub(crate) mod jwt;
