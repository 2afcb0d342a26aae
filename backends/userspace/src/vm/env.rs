//! What the embedder supplies: [`Resolver`] turns the references of
//! 64-bit immediate loads into values when a program is built (the
//! loader will implement it over its maps), [`Helpers`] runs helper
//! calls while the program runs.

use super::error::HelperError;
use super::memory::{function_address, Memory};

/// Resolves the pseudo sources of 64-bit immediate loads (`lddw` with
/// src 1, 2, 4, 5, 6). A method returning `None` rejects the program
/// with [`super::VerifyError::Unresolved`] naming the instruction.
pub trait Resolver {
    /// src 1: the value standing for the map with file descriptor `fd`.
    fn map_by_fd(&self, _fd: i32) -> Option<u64> {
        None
    }
    /// src 2: the address of byte `offset` of the value of the map `fd`
    /// (an address in a region the embedder maps in [`Memory`]).
    fn map_value_by_fd(&self, _fd: i32, _offset: u32) -> Option<u64> {
        None
    }
    /// src 5: the map with index `index` in the object's map table.
    fn map_by_index(&self, _index: i32) -> Option<u64> {
        None
    }
    /// src 6: byte `offset` of the value of map `index`.
    fn map_value_by_index(&self, _index: i32, _offset: u32) -> Option<u64> {
        None
    }
    /// src 4: the value standing for the subprogram starting at `pc`;
    /// by default [`function_address`], which
    /// [`super::Program::function_at`] maps back.
    fn function(&self, pc: usize) -> Option<u64> {
        Some(function_address(pc))
    }
}

/// Resolves nothing but function references: for programs without maps.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMaps;

impl Resolver for NoMaps {}

/// Runs helper calls (`call imm` with src 0).
pub trait Helpers {
    /// Runs helper `id` with `args` (r1 to r5); its result goes to r0.
    /// Pointers among the arguments are addresses in `memory`.
    fn call(
        &mut self,
        id: u32,
        args: [u64; 5],
        memory: &mut Memory<'_>,
    ) -> Result<u64, HelperError>;
}

/// No helper at all: every call fails with [`HelperError::Unknown`].
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHelpers;

impl Helpers for NoHelpers {
    fn call(&mut self, id: u32, _: [u64; 5], _: &mut Memory<'_>) -> Result<u64, HelperError> {
        Err(HelperError::Unknown(id))
    }
}
