//! MTA-STS (RFC 8461): recipient domains publish which MX hosts may receive their mail and
//! that those hosts must prove their names; sekisho discovers, fetches and caches the policy
//! and applies it inside each delivery session.

pub mod discovery;
pub mod fetch;
pub mod http;
pub mod policy;
pub mod record;

pub use discovery::{ActivePolicy, StsDiscovery, StsLookup, StsPolicies};
pub use fetch::FetchSettings;
pub use policy::{Mode, Policy};
