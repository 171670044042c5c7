//! The last-values table: the latest value of each key (an instrument's current quote),
//! one writer, any number of readers.

mod reader;
mod table;
mod writer;

pub use reader::LastValueReader;
pub use table::LastValues;
pub use writer::LastValueWriter;
