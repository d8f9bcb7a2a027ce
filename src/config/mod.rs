//! One typed configuration: defaults → TOML file → `FEDBROKER_SECTION__KEY` environment overrides.
//!
//! Loading never stops at the first problem: `load` collects every syntax, type and semantic error
//! (and, through `crate::trust`, every IdP metadata error) so `fedbroker check-config` can
//! report them all at once. Keys and their meaning: README "Configuration".

mod errors;
mod load;
mod model;
mod proxies;
mod validate;

pub use errors::ConfigErrors;
pub use load::{load, load_str};
pub use model::*;
pub use proxies::TrustedProxies;
pub use validate::{is_region, read_admin_token, MIN_ADMIN_TOKEN_LEN};
