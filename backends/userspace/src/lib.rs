//! The userspace backend of unibpf: where kernel eBPF is unavailable,
//! programs run in-process. For now this crate holds the eBPF virtual
//! machine ([`vm`]); the loader, maps, helpers and hooks plug into it
//! through [`vm::Resolver`], [`vm::Memory`] and [`vm::Helpers`].

#![forbid(unsafe_code)]

pub mod maps;
pub mod vm;
