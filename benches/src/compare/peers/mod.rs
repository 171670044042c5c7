//! The libraries a user would pick instead of ipclane, as measured transports with the
//! same payload discipline as every other row.

pub mod iceoryx2;
pub mod ipc_channel;
pub mod zenoh;
