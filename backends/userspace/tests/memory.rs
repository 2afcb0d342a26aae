//! Loads and stores: sizes, sign-extending loads, the stack, the
//! context, embedder regions, and every refused access.

mod common;
use common::*;
use unibpf_backend_userspace::vm::{
    memory::{CONTEXT_BASE, LOW_MIN, STACK_BASE, STACK_TOP},
    Access, AccessError, Limits, Memory, NoHelpers, Reason, Region, VmError,
};

fn access_error(result: Result<u64, VmError>) -> (usize, AccessError) {
    match result {
        Err(VmError::Access { pc, source }) => (pc, source),
        other => panic!("expected an access error, got {other:?}"),
    }
}

#[test]
fn stores_and_loads_of_every_size_on_the_stack() {
    for (size, mask) in [(B, 0xff), (H, 0xffff), (W, 0xffff_ffff), (DW, u64::MAX)] {
        let asm = Asm::new()
            .lddw(1, 0x8877_6655_4433_2211)
            .i(STX | MEM | DW, 10, 0, -8, 0)
            .i(STX | MEM | size, 10, 1, -8, 0)
            .i(LDX | MEM | DW, 0, 10, -8, 0)
            .exit();
        assert_eq!(r0(&asm), 0x8877_6655_4433_2211 & mask, "size {size:#x}");
    }
    // ST stores the immediate, sign-extended to 8 bytes.
    let asm = Asm::new()
        .i(ST | MEM | DW, 10, 0, -16, -2)
        .i(LDX | MEM | DW, 0, 10, -16, 0)
        .exit();
    assert_eq!(r0(&asm), (-2i64) as u64);
    let asm = Asm::new()
        .i(ST | MEM | H, 10, 0, -2, 0x12345)
        .i(LDX | MEM | H, 0, 10, -2, 0)
        .exit();
    assert_eq!(r0(&asm), 0x2345);
}

#[test]
fn memory_is_little_endian_and_unaligned_access_is_allowed() {
    let mut ctx = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99];
    let asm = Asm::new().i(LDX | MEM | W, 0, 1, 1, 0).exit();
    assert_eq!(run_ctx(&asm, &mut ctx).unwrap(), 0x5544_3322);
    let asm = Asm::new().i(LDX | MEM | DW, 0, 1, 1, 0).exit();
    assert_eq!(run_ctx(&asm, &mut ctx).unwrap(), 0x9988_7766_5544_3322);
}

#[test]
fn sign_extending_loads() {
    let mut ctx = [0x80, 0xff, 0x01, 0x80, 0x7f, 0, 0, 0];
    let ld = |size, off| Asm::new().i(LDX | MEMSX | size, 0, 1, off, 0).exit();
    assert_eq!(run_ctx(&ld(B, 0), &mut ctx).unwrap(), (-128i64) as u64);
    assert_eq!(run_ctx(&ld(B, 4), &mut ctx).unwrap(), 0x7f);
    assert_eq!(run_ctx(&ld(H, 2), &mut ctx).unwrap(), 0xffff_ffff_ffff_8001);
    assert_eq!(run_ctx(&ld(W, 0), &mut ctx).unwrap(), 0xffff_ffff_8001_ff80);
    assert_eq!(run_ctx(&ld(W, 4), &mut ctx).unwrap(), 0x7f);
    // The plain load of the same bytes zero-extends.
    let asm = Asm::new().i(LDX | MEM | W, 0, 1, 0, 0).exit();
    assert_eq!(run_ctx(&asm, &mut ctx).unwrap(), 0x8001_ff80);
}

#[test]
fn the_context_is_read_and_written_through_r1() {
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(&40u64.to_le_bytes());
    let asm = Asm::new()
        .i(LDX | MEM | DW, 0, 1, 0, 0)
        .i(ALU64 | ADD | K, 0, 0, 0, 2)
        .i(STX | MEM | DW, 1, 0, 8, 0)
        .exit();
    assert_eq!(run_ctx(&asm, &mut ctx).unwrap(), 42);
    assert_eq!(u64::from_le_bytes(ctx[8..].try_into().unwrap()), 42);
}

#[test]
fn context_past_its_end_is_refused() {
    let mut ctx = [0u8; 8];
    let asm = Asm::new().mov(0, 0).i(LDX | MEM | DW, 0, 1, 1, 0).exit();
    let (pc, e) = access_error(run_ctx(&asm, &mut ctx));
    assert_eq!(pc, 1);
    assert_eq!(e.addr, CONTEXT_BASE + 1);
    assert_eq!(e.size, 8);
    assert_eq!(e.reason, Reason::PastEnd { len: 8 });
    assert_eq!(
        VmError::Access { pc, source: e }.to_string(),
        format!(
            "pc 1: load of 8 bytes at {:#x}: past the end of a region of 8 bytes",
            CONTEXT_BASE + 1
        )
    );
    // Negative offsets wrap below the region's base into the stack's
    // slot: refused too.
    let asm = Asm::new().i(ST | MEM | B, 1, 0, -1, 0).exit();
    let (_, e) = access_error(run_ctx(&asm, &mut ctx));
    assert_eq!(e.access, Access::Store);
    assert_ne!(ctx, [1; 8]);
}

#[test]
fn unmapped_addresses_are_refused() {
    for addr in [0u64, 8, 0x1000, 0x7_0000_0000, u64::MAX - 7] {
        let asm = Asm::new()
            .lddw(1, addr)
            .i(LDX | MEM | DW, 0, 1, 0, 0)
            .exit();
        let (pc, e) = access_error(run(&asm));
        assert_eq!(
            (pc, e.addr, e.reason),
            (2, addr, Reason::Unmapped),
            "{addr:#x}"
        );
    }
    // A store of a host-looking pointer value refused the same way.
    let asm = Asm::new()
        .lddw(1, 0x7fff_dead_b000)
        .i(ST | MEM | W, 1, 0, 0, 1)
        .exit();
    assert_eq!(access_error(run(&asm)).1.reason, Reason::Unmapped);
}

#[test]
fn stack_overflow_above_the_top_and_below_the_frame() {
    let asm = Asm::new().i(LDX | MEM | B, 0, 10, 0, 0).exit();
    let (_, e) = access_error(run(&asm));
    assert_eq!(e.addr, STACK_TOP);
    assert!(matches!(e.reason, Reason::PastEnd { .. }));
    let asm = Asm::new().i(LDX | MEM | DW, 0, 10, -4, 0).exit();
    assert!(matches!(
        access_error(run(&asm)).1.reason,
        Reason::PastEnd { .. }
    ));
    // The frame is 512 bytes: r10-512 works, r10-513 does not.
    let asm = Asm::new().i(ST | MEM | B, 10, 0, -512, 1).mov(0, 0).exit();
    assert_eq!(r0(&asm), 0);
    let asm = Asm::new().i(ST | MEM | B, 10, 0, -513, 1).exit();
    let (_, e) = access_error(run(&asm));
    assert_eq!((e.addr, e.reason), (STACK_TOP - 513, Reason::BelowFrame));
    // And far below, to the stack's base and beyond it.
    let asm = Asm::new()
        .lddw(1, STACK_BASE - 8)
        .i(LDX | MEM | DW, 0, 1, 0, 0)
        .exit();
    assert_eq!(access_error(run(&asm)).1.reason, Reason::Unmapped);
}

#[test]
fn read_only_regions_refuse_stores_and_allow_loads() {
    let data = 7u64.to_le_bytes();
    let mut mem = Memory::default();
    let base = mem.add_region(Region::ReadOnly(&data));
    let load = Asm::new()
        .lddw(1, base)
        .i(LDX | MEM | DW, 0, 1, 0, 0)
        .exit();
    assert_eq!(
        program(&load)
            .run(&mut mem, &mut NoHelpers, Limits::default())
            .unwrap(),
        7
    );
    let store = Asm::new().lddw(1, base).i(ST | MEM | W, 1, 0, 0, 9).exit();
    let e = access_error(program(&store).run(&mut mem, &mut NoHelpers, Limits::default())).1;
    assert_eq!((e.access, e.reason), (Access::Store, Reason::ReadOnly));
    assert_eq!(data, 7u64.to_le_bytes());
}

#[test]
fn embedder_regions_get_their_own_bases() {
    let mut a = [0u8; 4];
    let mut b = [0u8; 4];
    let mut mem = Memory::default();
    let base_a = mem.add_region(Region::ReadWrite(&mut a));
    let base_b = mem.add_region(Region::ReadWrite(&mut b));
    assert_ne!(base_a, base_b);
    let asm = Asm::new()
        .lddw(1, base_a)
        .lddw(2, base_b)
        .i(ST | MEM | W, 1, 0, 0, 0x1111)
        .i(ST | MEM | W, 2, 0, 0, 0x2222)
        .mov(0, 0)
        .exit();
    program(&asm)
        .run(&mut mem, &mut NoHelpers, Limits::default())
        .unwrap();
    assert_eq!(mem.region(base_a).unwrap(), &0x1111u32.to_le_bytes());
    // One past a region's end is not the next region.
    let asm = Asm::new()
        .lddw(1, base_a)
        .i(LDX | MEM | B, 0, 1, 4, 0)
        .exit();
    let e = access_error(program(&asm).run(&mut mem, &mut NoHelpers, Limits::default())).1;
    assert_eq!(e.reason, Reason::PastEnd { len: 4 });
    drop(mem);
    assert_eq!(b, 0x2222u32.to_le_bytes());
}

/// A context holding a 32-bit pointer to a packet mapped low, as
/// `xdp_md.data` does: `r0 = *(u8 *)(ctx->data + off)`.
fn load_through_32_bit_pointer(off: i16) -> Asm {
    Asm::new()
        .i(LDX | MEM | W, 2, 1, 0, 0)
        .i(LDX | MEM | B, 0, 2, off, 0)
        .exit()
}

#[test]
fn a_low_region_is_reached_through_a_32_bit_pointer_and_bounded() {
    let start = 0x1000_0000u32;
    let mut packet = [1u8, 2, 3, 4];
    let mut ctx = start.to_le_bytes();
    let mut mem = Memory::new(Region::ReadWrite(&mut ctx));
    assert_eq!(
        mem.map_low(start, Region::ReadWrite(&mut packet)),
        0x1000_0000
    );
    assert_eq!(mem.low(), Some((0x1000_0000, 4)));
    let run =
        |mem: &mut Memory<'_>, asm: &Asm| program(asm).run(mem, &mut NoHelpers, Limits::default());
    assert_eq!(run(&mut mem, &load_through_32_bit_pointer(3)).unwrap(), 4);
    // One past the end (data_end) is refused, as is one before the start.
    let e = access_error(run(&mut mem, &load_through_32_bit_pointer(4))).1;
    assert_eq!(
        (e.addr, e.reason),
        (0x1000_0004, Reason::PastEnd { len: 4 })
    );
    let e = access_error(run(&mut mem, &load_through_32_bit_pointer(-1))).1;
    assert_eq!((e.addr, e.reason), (0x0fff_ffff, Reason::Unmapped));
    // Stores land in the packet.
    let store = Asm::new()
        .i(LDX | MEM | W, 2, 1, 0, 0)
        .i(ST | MEM | B, 2, 0, 1, 9)
        .mov(0, 0)
        .exit();
    run(&mut mem, &store).unwrap();
    assert_eq!(mem.region(0x1000_0000).unwrap(), &[1, 9, 3, 4]);
    // NULL and small integers still fault.
    for addr in [0u64, 8, u64::from(LOW_MIN) - 1] {
        let asm = Asm::new().lddw(1, addr).i(LDX | MEM | B, 0, 1, 0, 0).exit();
        let e = access_error(run(&mut mem, &asm)).1;
        assert_eq!((e.addr, e.reason), (addr, Reason::Unmapped), "{addr:#x}");
    }
}

#[test]
fn a_read_only_low_region_refuses_stores() {
    let packet = [0u8; 2];
    let mut mem = Memory::default();
    let at = mem.map_low(LOW_MIN, Region::ReadOnly(&packet));
    let store = Asm::new().lddw(1, at).i(ST | MEM | B, 1, 0, 0, 1).exit();
    let e = access_error(program(&store).run(&mut mem, &mut NoHelpers, Limits::default())).1;
    assert_eq!((e.access, e.reason), (Access::Store, Reason::ReadOnly));
}

#[test]
#[should_panic(expected = "stays unmapped")]
fn a_low_region_may_not_cover_null() {
    let packet = [0u8; 2];
    Memory::default().map_low(0, Region::ReadOnly(&packet));
}
