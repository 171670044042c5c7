//! What both directions do first: check the key expression, open the session.

use zenoh::key_expr::KeyExpr;

use crate::{Config, Error};

/// `keyexpr`, as Zenoh parses it; with wildcards only where `wild` allows them.
pub(crate) fn key_expr(keyexpr: &str, wild: bool) -> Result<KeyExpr<'static>, Error> {
    let invalid = |reason: String| Error::InvalidKeyExpr {
        keyexpr: keyexpr.to_owned(),
        reason,
    };
    let parsed = KeyExpr::try_from(keyexpr.to_owned()).map_err(|e| invalid(e.to_string()))?;
    if !wild && parsed.is_wild() {
        return Err(invalid(
            "an outbound bridge publishes on one key: no `*`, `**` or `$*`".into(),
        ));
    }
    Ok(parsed)
}

/// A session as `config` says, its failure naming the endpoints.
pub(crate) async fn open(config: &Config) -> Result<zenoh::Session, Error> {
    let zenoh = config.to_zenoh()?;
    zenoh::open(zenoh)
        .await
        .map_err(|e| config.open_error(e.to_string()))
}

/// A Zenoh error of `op` on `keyexpr`.
pub(crate) fn failed(op: &'static str, keyexpr: &KeyExpr<'_>, e: &zenoh::Error) -> Error {
    Error::Zenoh {
        op,
        keyexpr: keyexpr.to_string(),
        reason: e.to_string(),
    }
}
