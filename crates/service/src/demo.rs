//! A demo population, so that a newcomer who runs the platform sees a living registry: households of
//! plausible size and make-up with Khmer names and their usual romanisations, elderly people who know
//! only their birth year, some without any document, in real villages. Deterministic from a seed.

use chrono::Datelike;
use dspp_domain::{Actor, Purpose};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::{DocumentInput, MemberInput, NewHousehold, PersonInput, Registry, ServiceError};

/// Family names (Khmer, romanised).
const FAMILY: &[(&str, &str)] = &[
    ("សុខ", "SOK"),
    ("ចាន់", "CHAN"),
    ("ហេង", "HENG"),
    ("លី", "LY"),
    ("គឹម", "KIM"),
    ("ជា", "CHEA"),
    ("ខៀវ", "KHIEU"),
    ("ម៉ៅ", "MAO"),
    ("សំ", "SAM"),
    ("ទេព", "TEP"),
    ("ប៊ុន", "BUN"),
    ("ឡុង", "LONG"),
    ("នួន", "NUON"),
    ("សេង", "SENG"),
    ("កែវ", "KEO"),
    ("ពៅ", "POV"),
    ("យឹម", "YIM"),
    ("ព្រំ", "PROM"),
    ("មាស", "MEAS"),
    ("ហួត", "HUOT"),
    ("ឃុន", "KHUN"),
    ("អ៊ុក", "OUK"),
    ("ស៊ុន", "SUN"),
    ("ឈួន", "CHHUON"),
];

const GIVEN_MALE: &[(&str, &str)] = &[
    ("ដារ៉ា", "DARA"),
    ("សុផល", "SOPHAL"),
    ("វណ្ណៈ", "VANNAK"),
    ("ពិសិដ្ឋ", "PISETH"),
    ("សំណាង", "SAMNANG"),
    ("វុទ្ធី", "VUTHY"),
    ("បូរ៉ា", "BORA"),
    ("រិទ្ធី", "RITHY"),
    ("សុខា", "SOKHA"),
    ("វិសាល", "VISAL"),
    ("ចំរើន", "CHAMROEUN"),
    ("សារ៉ាត", "SARATH"),
    ("ភក្តី", "PHEAKDEY"),
    ("សុវណ្ណ", "SOVANN"),
];

const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("ស្រីមុំ", "SREYMOM"),
    ("សុភាព", "SOPHEAP"),
    ("ចាន់ធី", "CHANTHY"),
    ("ស្រីពៅ", "SREYPOV"),
    ("ដាវី", "DAVY"),
    ("ផល្លា", "PHALLA"),
    ("បុប្ផា", "BOPHA"),
    ("ធីតា", "THIDA"),
    ("ម៉ាលី", "MALY"),
    ("វណ្ណា", "VANNA"),
    ("សុខលី", "SOKLY"),
    ("ចាន់ណា", "CHANNA"),
    ("ស្រីនាង", "SREYNEANG"),
    ("គន្ធា", "KUNTHEA"),
];

/// The communes the demo fills: one each in Phnom Penh, Kampong Speu, Siem Reap and Battambang.
const DEMO_COMMUNES: &[&str] = &["120101", "050101", "170101", "020101"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub households: u64,
    pub people: u64,
    /// Applications left waiting for the commune chief's approval.
    pub applications: u64,
    /// Duplicate cases opened by the enrolments (some people are enrolled twice on purpose, as happens when a
    /// family moves and enrols again): work for the duplicates queue.
    pub duplicate_cases: u64,
}

/// A second spelling of a romanized given name, as another officer might write it.
fn respell(given: &str) -> String {
    for (from, to) in [
        ("EY", "EI"),
        ("EA", "IA"),
        ("OU", "OV"),
        ("TH", "T"),
        ("Y", "I"),
    ] {
        if given.contains(from) {
            return given.replacen(from, to, 1);
        }
    }
    format!("{given}H")
}

fn pick<'a>(rng: &mut StdRng, list: &'a [(&'a str, &'a str)]) -> (&'a str, &'a str) {
    list.choose(rng).copied().unwrap_or(("សុខ", "SOK"))
}

fn person(
    rng: &mut StdRng,
    family: (&str, &str),
    female: bool,
    birth_year: i32,
    year_only: bool,
    today: chrono::NaiveDate,
) -> PersonInput {
    let today_year = today.year();
    let given = pick(rng, if female { GIVEN_FEMALE } else { GIVEN_MALE });
    let birth_date = if year_only {
        format!("{birth_year:04}")
    } else {
        // Someone born this year was born by today.
        let (last_month, last_day) = if birth_year >= today_year {
            (today.month(), today.day().min(28))
        } else {
            (12, 28)
        };
        let month = rng.gen_range(1..=last_month);
        let day = rng.gen_range(1..=if month == last_month { last_day } else { 28 });
        format!("{birth_year:04}-{month:02}-{day:02}")
    };
    let mut documents = Vec::new();
    let age = today_year - birth_year;
    if age >= 18 && rng.gen_bool(0.7) {
        documents.push(DocumentInput {
            kind: "khmer_id_card".into(),
            number: format!("{:09}", rng.gen_range(10_000_000..999_999_999)),
            issuer: None,
        });
    } else if age < 18 && rng.gen_bool(0.8) {
        documents.push(DocumentInput {
            kind: "birth_certificate".into(),
            number: format!("BC-{:06}", rng.gen_range(0..999_999)),
            issuer: None,
        });
    }
    PersonInput {
        family_km: family.0.into(),
        given_km: given.0.into(),
        family_latin: family.1.into(),
        given_latin: given.1.into(),
        sex: if female {
            "female".into()
        } else {
            "male".into()
        },
        birth_date,
        documents,
        phone: (age >= 18 && rng.gen_bool(0.6)).then(|| {
            format!(
                "0{}{:07}",
                [12, 15, 17, 89, 96, 97][rng.gen_range(0..6)],
                rng.gen_range(0..9_999_999)
            )
        }),
        ..PersonInput::default()
    }
}

impl Registry {
    async fn demo_application(
        &self,
        household: dspp_domain::HouseholdId,
        commune: &str,
    ) -> Result<u64, ServiceError> {
        let council = Actor {
            kind: dspp_domain::ActorKind::User,
            subject: "demo.council".into(),
            role: dspp_domain::Role::NationalAdministrator,
            scope: dspp_domain::Scope::National,
            delegation: None,
            purpose: Purpose::Administration,
        };
        self.override_poverty_status(
            &council,
            household,
            "idpoor1",
            "demo: IDPoor equity card holder",
        )
        .await?;
        let officer = Actor {
            kind: dspp_domain::ActorKind::User,
            subject: format!("demo.officer.{commune}"),
            role: dspp_domain::Role::Officer,
            scope: dspp_domain::Scope::parse(&format!("commune:{commune}"))?,
            delegation: None,
            purpose: Purpose::Enrolment,
        };
        let programs: Vec<crate::ProgramChoice> = self
            .check_eligibility(&officer, household, &[])
            .await?
            .into_iter()
            .filter(|check| check.eligible)
            .map(|check| crate::ProgramChoice {
                program: check.program,
                subject: check.subject,
            })
            .collect();
        if programs.is_empty() {
            return Ok(0);
        }
        let input = crate::NewApplication {
            household,
            opened_at: Some(self.now() - chrono::Duration::minutes(9)),
            answers: Vec::new(),
            programs,
        };
        self.submit_application(&officer, &input).await?;
        Ok(1)
    }

    /// Enrols `n_households` demo households (about 4.5 people each) through the ordinary use case, so
    /// the demo exercises the same rules as real enrolment.
    pub async fn load_demo(
        &self,
        n_households: u32,
        seed: u64,
    ) -> Result<DemoSummary, ServiceError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let today = self.today();
        let today_year = today.year();
        let mut summary = DemoSummary::default();
        let mut earlier_heads: Vec<(String, PersonInput)> = Vec::new();
        for i in 0..n_households {
            // Every twentieth household is someone enrolled before, enrolling again in a household of their own
            // in the same village, spelt differently: the registry must notice.
            if i % 20 == 19
                && let Some((village, head)) = earlier_heads.choose(&mut rng).cloned()
            {
                let again = NewHousehold {
                    village,
                    address_detail: None,
                    members: vec![MemberInput {
                        person: PersonInput {
                            given_latin: respell(&head.given_latin),
                            phone: None,
                            documents: Vec::new(),
                            ..head
                        },
                        relationship: "head".into(),
                        offline: None,
                    }],
                };
                let (view, warnings) = self
                    .register_household(&Actor::system(Purpose::Enrolment), &again)
                    .await?;
                summary.households += 1;
                summary.people += view.members.len() as u64;
                summary.duplicate_cases += opened(&warnings);
                continue;
            }
            let commune = DEMO_COMMUNES[i as usize % DEMO_COMMUNES.len()];
            let (_, villages) = self
                .places(&Actor::system(Purpose::Administration), Some(commune))
                .await?;
            let Some(village) = villages.choose(&mut rng) else {
                continue;
            };
            let family = pick(&mut rng, FAMILY);
            let head_age = rng.gen_range(25..80);
            let head_female = rng.gen_bool(0.3);
            let mut members = vec![MemberInput {
                person: {
                    let year_only = head_age >= 60 && rng.gen_bool(0.7);
                    person(
                        &mut rng,
                        family,
                        head_female,
                        today_year - head_age,
                        year_only,
                        today,
                    )
                },
                relationship: "head".into(),
                offline: None,
            }];
            if rng.gen_bool(0.85) {
                let spouse_age = (head_age + rng.gen_range(-6..4)).clamp(18, 90);
                let spouse_family = pick(&mut rng, FAMILY);
                members.push(MemberInput {
                    person: {
                        let year_only = spouse_age >= 60 && rng.gen_bool(0.7);
                        person(
                            &mut rng,
                            spouse_family,
                            !head_female,
                            today_year - spouse_age,
                            year_only,
                            today,
                        )
                    },
                    relationship: "spouse".into(),
                    offline: None,
                });
            }
            let n_children = if head_age < 60 {
                rng.gen_range(0..5)
            } else {
                rng.gen_range(0..2)
            };
            for _ in 0..n_children {
                let child_age = rng.gen_range(0..(head_age - 17).clamp(1, 30));
                members.push(MemberInput {
                    person: {
                        let female = rng.gen_bool(0.5);
                        person(
                            &mut rng,
                            family,
                            female,
                            today_year - child_age,
                            false,
                            today,
                        )
                    },
                    relationship: "child".into(),
                    offline: None,
                });
            }
            if head_age < 50 && rng.gen_bool(0.25) {
                let elder_age = rng.gen_range(62..92);
                let elder_family = pick(&mut rng, FAMILY);
                members.push(MemberInput {
                    person: {
                        let (female, year_only) = (rng.gen_bool(0.7), rng.gen_bool(0.8));
                        person(
                            &mut rng,
                            elder_family,
                            female,
                            today_year - elder_age,
                            year_only,
                            today,
                        )
                    },
                    relationship: "parent".into(),
                    offline: None,
                });
            }
            let household = NewHousehold {
                village: village.code.clone(),
                address_detail: Some(format!("House {}", rng.gen_range(1..300))),
                members,
            };
            let actor = Actor::system(Purpose::Enrolment);
            earlier_heads.push((
                household.village.clone(),
                household.members[0].person.clone(),
            ));
            let (view, warnings) = self.register_household(&actor, &household).await?;
            summary.duplicate_cases += opened(&warnings);
            summary.households += 1;
            summary.people += view.members.len() as u64;
            // Every third household holds an IDPoor 1 card, and its officer has applied for the
            // programs it qualifies for without further answers: work for the chief's approval queue.
            if i % 3 == 0 {
                summary.applications += self.demo_application(view.household.id, commune).await?;
            }
        }
        Ok(summary)
    }
}

fn opened(warnings: &[crate::Warning]) -> u64 {
    warnings
        .iter()
        .filter(|warning| warning.duplicate.as_ref().is_some_and(|hint| hint.new_case))
        .count() as u64
}
