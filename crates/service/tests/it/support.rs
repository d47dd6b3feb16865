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
