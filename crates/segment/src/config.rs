//! What a segment is created or opened with, apart from where: the settings the builder
//! gathers and the creator's initialiser. Its own module so that `create` and `open` take
//! it without reaching back up into the builder that calls them.

use std::time::Duration;

use crate::{Kind, Region};

/// The boxed error an initialiser returns.
pub type InitError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An initialiser: builds the contents of a newly created segment before it is published.
pub(crate) type Initializer = Box<dyn for<'a> FnOnce(Region<'a>) -> Result<(), InitError> + Send>;

/// Settings shared by create and open (everything but the location and initialiser).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) size: Option<usize>,
    pub(crate) mode: u32,
    pub(crate) exclusive: bool,
    pub(crate) persist: bool,
    pub(crate) prefault: bool,
    pub(crate) mlock: bool,
    pub(crate) kind: Option<Kind>,
    pub(crate) init_timeout: Duration,
    pub(crate) require_seals: bool,
}
