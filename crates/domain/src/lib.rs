//! The registry's domain: people, households, the Social Protection ID, places, actors and the rules that
//! bind them. No IO, no async, no wire formats: `store` maps these types to rows and `web` to JSON.
//!
//! Types that carry an invariant have a `parse` constructor and cannot hold a bad value, so code that
//! receives a [`Spid`] or a [`VillageCode`] never re-checks it.

pub mod actor;
pub mod assurance;
pub mod date;
pub mod document;
pub mod enrolment;
pub mod error;
pub mod geo;
pub mod household;
pub mod name;
pub mod person;
pub mod spid;

pub use actor::{Actor, ActorKind, Delegation, Purpose, Role, Scope};
pub use assurance::{AssuranceCategory, BiometricStatus};
pub use date::{BirthDate, DatePrecision};
pub use document::{DocumentKind, IdentityDocument, VerificationStatus};
pub use enrolment::{Authority, DelegationGrant, EnrolmentStatus, Refusal, approval_authority};
pub use error::DomainError;
pub use geo::{CommuneCode, DistrictCode, ProvinceCode, VillageCode};
pub use household::{Household, HouseholdId, Member, Relationship};
pub use name::PersonName;
pub use person::{Death, Person, PersonId, PersonRecord, Sex};
pub use spid::Spid;
