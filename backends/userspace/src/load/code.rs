//! One section's instructions as bytes, with in-place edits.

pub const CLASS_LD: u8 = 0x00;
pub const CLASS_LDX: u8 = 0x01;
pub const CLASS_ST: u8 = 0x02;
pub const CLASS_STX: u8 = 0x03;
pub const CLASS_ALU: u8 = 0x04;
pub const CLASS_ALU64: u8 = 0x07;
/// `call imm`.
pub const CALL: u8 = 0x85;
/// `lddw`: the first half of a 64-bit immediate load.
pub const LDDW: u8 = 0x18;

/// The instructions of one executable section.
#[derive(Debug, Clone)]
pub struct Code {
    pub name: String,
    /// The ELF section index.
    pub index: usize,
    pub bytes: Vec<u8>,
}

impl Code {
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }

    fn at(&self, insn: usize) -> Option<&[u8]> {
        self.bytes.get(insn * 8..insn * 8 + 8)
    }

    fn at_mut(&mut self, insn: usize) -> Option<&mut [u8]> {
        self.bytes.get_mut(insn * 8..insn * 8 + 8)
    }

    pub fn opcode(&self, insn: usize) -> Option<u8> {
        self.at(insn).map(|b| b[0])
    }

    pub fn src(&self, insn: usize) -> Option<u8> {
        self.at(insn).map(|b| b[1] >> 4)
    }

    pub fn imm(&self, insn: usize) -> Option<i32> {
        self.at(insn)
            .map(|b| i32::from_le_bytes([b[4], b[5], b[6], b[7]]))
    }

    pub fn set_imm(&mut self, insn: usize, imm: i32) {
        if let Some(b) = self.at_mut(insn) {
            b[4..8].copy_from_slice(&imm.to_le_bytes());
        }
    }

    pub fn set_off(&mut self, insn: usize, off: i16) {
        if let Some(b) = self.at_mut(insn) {
            b[2..4].copy_from_slice(&off.to_le_bytes());
        }
    }

    pub fn set_src(&mut self, insn: usize, src: u8) {
        if let Some(b) = self.at_mut(insn) {
            b[1] = (b[1] & 0x0f) | (src << 4);
        }
    }

    /// What libbpf does to an instruction whose CO-RE relocation failed:
    /// a call to a helper that does not exist (both halves of a 64-bit
    /// load, so the second is a valid instruction too).
    pub fn poison(&mut self, insn: usize) {
        let wide = self.opcode(insn) == Some(LDDW);
        for i in [insn, insn + 1].into_iter().take(1 + wide as usize) {
            if let Some(b) = self.at_mut(i) {
                b.copy_from_slice(&[CALL, 0, 0, 0, 0, 0, 0, 0]);
                b[4..8].copy_from_slice(&super::core::POISON_HELPER.to_le_bytes());
            }
        }
    }
}
