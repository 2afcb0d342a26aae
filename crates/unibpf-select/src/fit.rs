//! Which programs of an object a backend runs: each one it can, optional
//! programs on a missing tracepoint left out, and of each chain of
//! alternatives (the compat header's `UNIBPF_ALTERNATIVE`) the first one
//! it can.

use unibpf_backend::{Backend, HostFeatures, Unsupported};
use unibpf_object::{BpfObject, Program};

use crate::{Pass, SelectError};

/// A backend that can run the object: how each program attaches, and the
/// programs it leaves out.
pub(crate) struct Fit {
    pub how: Vec<(String, String)>,
    pub skipped: Vec<Pass>,
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
        skipped: Vec::new(),
    };
    for chain in chains(object)? {
        let [first, rest @ ..] = chain.as_slice() else {
            continue;
        };
        if rest.is_empty() {
            fit_one(object, host, backend, first, &mut fit)?;
            continue;
        }
        let verdicts: Vec<_> = chain.iter().map(|p| backend.supports(p, host)).collect();
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
                Ok(how) if i == chosen => {
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
            fit.skipped.push(skip(p, why));
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
    match backend.supports(p, host) {
        Ok(how) => fit.how.push((p.name.clone(), how)),
        Err(Unsupported::NoTracepoint { category, name })
            if object.optional_programs.contains(&p.name) =>
        {
            fit.skipped.push(skip(
                p,
                format!("tracepoint {category}/{name} does not exist on this host (optional)"),
            ));
        }
        Err(reason) => {
            return Err(SelectError::Unsupported {
                program: p.name.clone(),
                reason,
            })
        }
    }
    Ok(())
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
