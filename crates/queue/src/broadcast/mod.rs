//! The broadcast ring: one writer, many readers.

mod reader;
mod ring;
mod writer;

pub use reader::{BroadcastReader, Resume};
pub use ring::Broadcast;
pub use writer::BroadcastWriter;
