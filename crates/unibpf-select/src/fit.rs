//! Which programs of an object a backend runs: each one it can, optional
//! programs on a missing tracepoint left out, and of each chain of
//! alternatives (the compat header's `UNIBPF_ALTERNATIVE`) the first one
//! it can.

use unibpf_backend::{Backend, Feature, HostFeatures, Unsupported};
use unibpf_object::{BpfObject, Hook, Program, ProgramSection};

use crate::{Pass, SelectError};

/// A backend that can run the object: how each program attaches, and the
/// passes that leave programs out or convert them.
pub(crate) struct Fit {
    pub how: Vec<(String, String)>,
    pub passes: Vec<Pass>,
}

/// Can `backend` run every program of `object` (optional programs on a
/// missing tracepoint and unchosen alternatives aside)? The first program
/// it cannot run, and why, if not.
pub(crate) fn fit(
    object: &BpfObject,
    host: &dyn HostFeatures,
    backend: &dyn Backend,
) -> Result<Fit, SelectError> {
    let mut fit = Fit {
        how: Vec::new(),
        passes: Vec::new(),
    };
    for chain in chains(object)? {
        let [first, rest @ ..] = chain.as_slice() else {
            continue;
        };
        if rest.is_empty() {
            fit_one(object, host, backend, first, &mut fit)?;
            continue;
        }
        let verdicts: Vec<_> = chain
            .iter()
            .map(|p| runs(object, host, backend, p))
            .collect();
        let Some(chosen) = verdicts.iter().position(Result::is_ok) else {
            let mut reasons = chain
                .iter()
                .zip(verdicts)
                .filter_map(|(p, v)| Some((p.name.clone(), v.err()?)));
            let Some((program, reason)) = reasons.next() else {
                continue;
            };
            return Err(SelectError::NoAlternative {
                program,
                reason,
                alternatives: reasons
                    .map(|(name, why)| format!("{name}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        };
        for (i, (p, verdict)) in chain.iter().zip(verdicts).enumerate() {
            let why = match verdict {
                Ok((how, converted)) if i == chosen => {
                    fit.passes.extend(converted);
                    let how = match i {
                        0 => how,
                        _ => format!("{how} (alternative to {})", first.name),
                    };
                    fit.how.push((p.name.clone(), how));
                    continue;
                }
                Ok(_) => format!("alternative {} runs instead", chain[chosen].name),
                Err(reason) => format!("{reason}; alternative {} runs instead", chain[chosen].name),
            };
            fit.passes.push(skip(p, why));
        }
    }
    Ok(fit)
}

/// A program without alternatives.
fn fit_one(
    object: &BpfObject,
    host: &dyn HostFeatures,
    backend: &dyn Backend,
    p: &Program,
    fit: &mut Fit,
) -> Result<(), SelectError> {
    match runs(object, host, backend, p) {
        Ok((how, converted)) => {
            fit.how.push((p.name.clone(), how));
            fit.passes.extend(converted);
        }
        Err(Unsupported::NoTracepoint { category, name })
            if object.optional_programs.contains(&p.name) =>
        {
            fit.passes.push(skip(
                p,
                format!("tracepoint {category}/{name} does not exist on this host (optional)"),
            ));
        }
        Err(reason) => {
            return Err(SelectError::Unsupported {
                program: p.name.clone(),
                reason: no_kprobe_for_fentry(host, reason),
            })
        }
    }
    Ok(())
}

/// An fentry program the host cannot run, where kprobes would: the
/// reverse conversion is not done, because an fentry program reads its
/// pointer arguments as typed kernel pointers, which a kprobe gets as
/// plain numbers that the verifier refuses direct reads through. Say so,
/// and the way out.
fn no_kprobe_for_fentry(host: &dyn HostFeatures, reason: Unsupported) -> Unsupported {
    let kprobes = host.missing(Feature::AttachKprobe).is_none()
        && host.missing(Feature::ProgKprobe).is_none();
    match reason {
        Unsupported::MissingFeature {
            feature: Feature::ProgFentry | Feature::AttachFentry,
            ..
        } if kprobes => Unsupported::NotConvertible {
            missing: reason.to_string(),
            why: "it cannot run as a kprobe instead (its typed pointer arguments would be \
                  plain numbers there); add a kprobe program with UNIBPF_ALTERNATIVE"
                .to_string(),
        },
        other => other,
    }
}

/// How `backend` runs `p` here: as it is, or, for a kprobe where the host
/// has no kprobes but BPF trampolines, as an fentry program (with the pass
/// that converts it).
fn runs(
    object: &BpfObject,
    host: &dyn HostFeatures,
    backend: &dyn Backend,
    p: &Program,
) -> Result<(String, Option<Pass>), Unsupported> {
    match backend.supports(p, host) {
        Ok(how) => Ok((how, None)),
        Err(
            missing @ Unsupported::MissingFeature {
                feature: Feature::ProgKprobe | Feature::AttachKprobe,
                ..
            },
        ) => as_fentry(object, host, backend, p, &missing).map_err(|why| match why {
            Some(why) => Unsupported::NotConvertible {
                missing: missing.to_string(),
                why: format!("it cannot run as an fentry program instead: {why}"),
            },
            None => missing,
        }),
        Err(other) => Err(other),
    }
}

/// `p`, a kprobe the host cannot run, as an fentry program; Err(None) when
/// it is not a single-function kprobe, or the host cannot run fentry
/// programs either (the kprobe's own reason stands), Err(Some) with why it
/// cannot be converted otherwise.
fn as_fentry(
    object: &BpfObject,
    host: &dyn HostFeatures,
    backend: &dyn Backend,
    p: &Program,
    missing: &Unsupported,
) -> Result<(String, Option<Pass>), Option<String>> {
    let Hook::Kprobe { multi: false, .. } = p.section.hook else {
        return Err(None);
    };
    let reads = object
        .kprobe_reads
        .iter()
        .find(|r| r.program == p.name)
        .ok_or(None)?;
    let kind = if reads.ret { "fexit" } else { "fentry" };
    let as_trampoline = Program {
        name: p.name.clone(),
        section: ProgramSection::parse(&format!("{kind}/{}", reads.function)).map_err(|_| None)?,
        sym_info_offset: p.sym_info_offset,
    };
    let how = backend.supports(&as_trampoline, host).map_err(|_| None)?;
    reads.roles.as_ref().map_err(|why| Some(why.clone()))?;
    let params = host
        .kernel_function_params(&reads.function)
        .ok_or_else(|| {
            Some(format!(
                "the kernel's BTF has no function {} to take its parameters from",
                reads.function
            ))
        })?;
    let pass = Pass::KprobeToFentry {
        program: p.name.clone(),
        function: reads.function.clone(),
        exit: reads.ret,
        params,
        why: missing.to_string(),
    };
    Ok((format!("{how} (converted from a kprobe)"), Some(pass)))
}

fn skip(p: &Program, why: String) -> Pass {
    Pass::SkipProgram {
        program: p.name.clone(),
        sym_info_offset: p.sym_info_offset,
        why,
    }
}

/// The programs in order, each with the alternatives that follow it
/// (`UNIBPF_ALTERNATIVE(a, b)` and `(b, c)`: a, b, c); a program that is
/// some other's fallback comes in that one's chain only.
fn chains(object: &BpfObject) -> Result<Vec<Vec<&Program>>, SelectError> {
    let find = |name: &str| object.programs.iter().find(|p| p.name == name);
    let bad = |a: &unibpf_object::Alternative, why| SelectError::BadAlternative {
        program: a.program.clone(),
        fallback: a.fallback.clone(),
        why,
    };
    let mut fallback_of = std::collections::HashMap::new();
    for a in &object.alternatives {
        if find(&a.program).is_none() {
            return Err(bad(a, "the object has no program of the first name"));
        }
        if find(&a.fallback).is_none() {
            return Err(bad(a, "the object has no program of the second name"));
        }
        if a.program == a.fallback || fallback_of.insert(a.program.as_str(), a).is_some() {
            return Err(bad(
                a,
                "a program has at most one fallback, other than itself",
            ));
        }
    }
    let is_fallback = |name: &str| object.alternatives.iter().any(|a| a.fallback == name);
    let mut chains = Vec::new();
    for head in object.programs.iter().filter(|p| !is_fallback(&p.name)) {
        let mut chain = vec![head];
        while let Some(a) = fallback_of.get(chain[chain.len() - 1].name.as_str()) {
            if chain.iter().any(|p| p.name == a.fallback) || chain.len() > object.programs.len() {
                return Err(bad(a, "the alternatives go round in a circle"));
            }
            chain.extend(find(&a.fallback));
        }
        chains.push(chain);
    }
    // A circle has no head: its programs are in no chain.
    if let Some(a) = object
        .alternatives
        .iter()
        .find(|a| !chains.iter().flatten().any(|p| p.name == a.program))
    {
        return Err(bad(a, "the alternatives go round in a circle"));
    }
    Ok(chains)
}
