//! Actors and places the scenarios share; registries come from `dspp_testkit`.

use dspp_domain::{Actor, ActorKind, Purpose, Role, Scope};
pub use dspp_testkit::Harness;

/// A second, empty registry on the same kind of store as `h`.
pub async fn harness_like(h: &Harness) -> Harness {
    dspp_testkit::harness(h.backend).await
}

/// An officer of commune 120101 (Phnom Penh) enrolling.
pub fn officer() -> Actor {
    Actor {
        kind: ActorKind::User,
        subject: "officer.sokha".into(),
        role: Role::Officer,
        scope: Scope::parse("commune:120101").expect("scope"),
        delegation: None,
        purpose: Purpose::Enrolment,
    }
}

pub fn actor(subject: &str, role: Role, scope: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        subject: subject.into(),
        role,
        scope: Scope::parse(scope).expect("scope"),
        delegation: None,
        purpose: Purpose::RecordUpdate,
    }
}

/// A village of commune 120101.
pub const VILLAGE: &str = "12010101";

/// Asserts that of two captures made at the same moment under two records (`a`'s and `b`'s), at least one found the
/// other as a possible duplicate.
pub fn assert_one_saw_the_other(
    (at_a, a): (&dspp_service::CaptureOutcome, dspp_domain::Spid),
    (at_b, b): (&dspp_service::CaptureOutcome, dspp_domain::Spid),
    what: &str,
) {
    let saw = |outcome: &dspp_service::CaptureOutcome, other| {
        outcome
            .warnings
            .iter()
            .any(|w| w.code == "possible_duplicate" && w.spids.contains(&other))
    };
    assert!(
        saw(at_a, b) || saw(at_b, a),
        "{what}: neither capture saw the other ({:?} / {:?})",
        at_a.warnings,
        at_b.warnings
    );
}

/// Registers people nothing biographic links (family and given names in Khmer and Latin, sex, birth date), in
/// `VILLAGE`, each without a warning; their SPIDs in order.
pub async fn register_strangers(
    registry: &dspp_service::Registry,
    people: &[(&str, &str, &str, &str, &str, &str)],
) -> Vec<dspp_domain::Spid> {
    let mut spids = Vec::new();
    for &(family_km, family_latin, given_km, given_latin, sex, birth_date) in people {
        let input = dspp_service::PersonInput {
            family_km: family_km.into(),
            given_km: given_km.into(),
            family_latin: family_latin.into(),
            given_latin: given_latin.into(),
            sex: sex.into(),
            birth_date: birth_date.into(),
            village: Some(VILLAGE.into()),
            ..dspp_service::PersonInput::default()
        };
        let (view, warnings) = registry
            .register_person(&officer(), &input, None)
            .await
            .unwrap();
        assert!(warnings.is_empty(), "{given_latin}: {warnings:?}");
        spids.push(view.person.spid);
    }
    spids
}
