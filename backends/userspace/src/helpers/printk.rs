//! `bpf_trace_printk` formatting: the kernel's small printf subset
//! (`%d %i %u %x %X %p %s %c %%` with `l`/`ll` length modifiers, at most
//! three arguments).

/// Formats `fmt` with `args`; `string` reads a `%s` argument. A
/// conversion the kernel would refuse gives None (the helper then
/// returns -EINVAL, as the kernel does).
pub fn format(fmt: &[u8], args: &[u64], string: &mut dyn FnMut(u64) -> String) -> Option<String> {
    let fmt = match fmt.iter().position(|&b| b == 0) {
        Some(end) => &fmt[..end],
        None => fmt,
    };
    let mut out = String::new();
    // The kernel takes at most three arguments.
    let mut next = args.iter().take(3).copied();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(char::from(c));
            continue;
        }
        let mut longs = 0;
        while fmt.get(i) == Some(&b'l') {
            longs += 1;
            i += 1;
        }
        let conv = *fmt.get(i)?;
        i += 1;
        if conv == b'%' {
            out.push('%');
            continue;
        }
        let v = next.next()?;
        let narrow = longs == 0;
        match conv {
            b'd' | b'i' if narrow => out.push_str(&(v as i32).to_string()),
            b'd' | b'i' => out.push_str(&(v as i64).to_string()),
            b'u' if narrow => out.push_str(&(v as u32).to_string()),
            b'u' => out.push_str(&v.to_string()),
            b'x' if narrow => out.push_str(&format!("{:x}", v as u32)),
            b'x' => out.push_str(&format!("{v:x}")),
            b'X' if narrow => out.push_str(&format!("{:X}", v as u32)),
            b'X' => out.push_str(&format!("{v:X}")),
            b'p' => out.push_str(&format!("{v:#x}")),
            b'c' => out.push(char::from(v as u8)),
            b's' => out.push_str(&string(v)),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: &str, args: &[u64]) -> Option<String> {
        format(f.as_bytes(), args, &mut |_| "str".into())
    }

    #[test]
    fn formats_the_kernel_subset() {
        assert_eq!(
            fmt("pid %d ret %ld %s%%\0junk", &[7, -2i64 as u64, 0]).as_deref(),
            Some("pid 7 ret -2 str%")
        );
        assert_eq!(
            fmt("x=%x X=%X %p %c", &[255, 255, 16, 65]).as_deref(),
            None,
            "four arguments are one too many"
        );
        assert_eq!(
            fmt("x=%x X=%X %p", &[255, 255, 16]).as_deref(),
            Some("x=ff X=FF 0x10")
        );
        assert_eq!(fmt("%u", &[u64::MAX]).as_deref(), Some("4294967295"));
        assert_eq!(
            fmt("%llu", &[u64::MAX]).as_deref(),
            Some("18446744073709551615")
        );
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        assert_eq!(fmt("%f", &[1]), None);
        assert_eq!(fmt("%d %d", &[1]), None);
        assert_eq!(fmt("trailing %", &[]), None);
    }
}
