//! Typed custom headers: each command's `extFields`, as a struct.

use crate::error::Result;
use crate::protocol::ExtFields;

/// A typed custom header that converts to and from a command's `extFields`.
///
/// Values are strings on the wire; a missing required field is
/// [`crate::RemotingError::MissingField`] naming it.
pub trait CommandHeader: Sized {
    /// Writes every present field into `ext` (numbers and booleans as decimal/`true`/`false` text).
    fn write_to(&self, ext: &mut ExtFields);
    /// Reads the header from `ext`.
    fn read_from(ext: &ExtFields) -> Result<Self>;
}
