//! How realistic are synthetic strangers? Score distributions of real probes against real other
//! fingers, against mirrored real prints, and against synthetic fingers, for MCC and for the index's
//! consistent-vote score. Synthetic strangers that scored lower than real ones would make the
//! scale benchmark optimistic.
//!
//! `cargo run --release -p fingerprint --example synth_check -- [HALF] [SYNTHETIC]`
//! (`SYNTH=name=value,...` overrides generator settings)

#[path = "support/mod.rs"]
mod support;

use fingerprint::synth::{SynthParams, finger, mirrored};
use fingerprint::{MccMatcher, MccTemplate, Template, ThumbKeys, thumb_score};

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * v.len() as f64) as usize).min(v.len() - 1)];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{name:<44} n {:>7} mean {mean:8.4} p50 {:8.4} p90 {:8.4} p99 {:8.4} p99.9 {:8.4} max {:8.4}",
        v.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        v[v.len() - 1]
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let half = args.next().unwrap_or_else(|| "all".to_owned());
    let n_synth: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let loaded = support::population::in_half(&support::population::load_collection(None)?, &half);
    let fingers: Vec<String> = loaded.iter().map(|i| i.finger.clone()).collect();
    let real: Vec<Template> = loaded.into_iter().map(|i| i.template).collect();
    let params = match std::env::var("SYNTH") {
        Ok(spec) => SynthParams::from_spec(&spec)?,
        Err(_) => SynthParams::default(),
    };
    println!("{params:?}");
    let synth: Vec<Template> = (0..n_synth as u64)
        .map(|s| finger(s, &params))
        .collect::<Result<_, _>>()?;
    let mirror: Vec<Template> = real.iter().map(mirrored).collect::<Result<_, _>>()?;
    let count = |t: &[Template]| {
        t.iter()
            .map(|t| t.minutiae().len() as f64)
            .collect::<Vec<_>>()
    };
    summary("minutiae per real print", count(&real));
    summary("minutiae per synthetic print", count(&synth));
    let to_mcc = |t: &[Template]| t.iter().map(MccTemplate::new).collect::<Vec<_>>();
    let (real_mcc, synth_mcc, mirror_mcc) = (to_mcc(&real), to_mcc(&synth), to_mcc(&mirror));
    let to_keys = |t: &[MccTemplate]| t.iter().map(ThumbKeys::from_mcc).collect::<Vec<_>>();
    let (real_keys, synth_keys, mirror_keys) = (
        to_keys(&real_mcc),
        to_keys(&synth_mcc),
        to_keys(&mirror_mcc),
    );
    let mut matcher = MccMatcher::new();
    for label in ["MCC", "index"] {
        let mut score = |i: usize, m: &MccTemplate, k: &ThumbKeys| -> f64 {
            if label == "MCC" {
                matcher.similarity(&real_mcc[i], m)
            } else {
                thumb_score(&real_keys[i], k)
            }
        };
        let (mut genuine, mut other, mut mirrored, mut synthetic) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..real.len() {
            for j in 0..real.len() {
                if i != j {
                    let v = score(i, &real_mcc[j], &real_keys[j]);
                    if fingers[i] == fingers[j] {
                        genuine.push(v);
                    } else {
                        other.push(v);
                    }
                }
            }
            for j in 0..mirror.len() {
                mirrored.push(score(i, &mirror_mcc[j], &mirror_keys[j]));
            }
            for j in 0..synth.len() {
                synthetic.push(score(i, &synth_mcc[j], &synth_keys[j]));
            }
        }
        summary(&format!("{label}: real genuine"), genuine);
        summary(&format!("{label}: real vs other real fingers"), other);
        summary(&format!("{label}: real vs mirrored real"), mirrored);
        summary(&format!("{label}: real vs synthetic"), synthetic);
    }
    Ok(())
}
