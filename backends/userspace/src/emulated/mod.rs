//! The kernel objects the backend emulates for programs: tracepoint
//! contexts and tasks, their layouts and the BTF that describes them.

pub mod btf;
pub mod layout;
