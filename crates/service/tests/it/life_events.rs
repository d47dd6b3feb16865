//! Life events, recertification, the national ID check and programs loaded as data.

use chrono::Duration;
use dspp_domain::{EnrolmentStatus, Role, Spid, VerificationStatus};
use dspp_service::{
    Answer, Connectors, Decision, DefinitionFormat, NewApplication, PersonInput, ProgramChoice,
    ServiceError, SubjectAnswers, SubjectRef,
};
use dspp_simulators::{CardStatus, IdCard, NationalIdConfig, PartialDate, Sex};
use tokio_util::sync::CancellationToken;

use crate::enrolment::{chief, council, family_answers, the_family};
use crate::support::{Harness, actor, officer};
use dspp_testkit::on_both_stores;

/// Submits and approves `program` for `spid` in the family's household; returns the enrolment id.
async fn approved(
    h: &Harness,
    household: dspp_domain::HouseholdId,
    answers: Vec<SubjectAnswers>,
    program: &str,
    spid: Spid,
) -> String {
    let application = h
        .registry
        .submit_application(
            &officer(),
            &NewApplication {
                household,
                opened_at: None,
                answers,
                programs: vec![ProgramChoice {
                    program: program.into(),
                    subject: SubjectRef::Person(spid),
                }],
            },
        )
        .await
        .unwrap();
    let id = application.enrolments[0].row.id.clone();
    h.registry
        .decide(
            &chief(),
            &application.application.id,
            &[Decision {
                enrolment_id: id.clone(),
                approve: true,
                reason: None,
            }],
        )
        .await
        .unwrap();
    id
}

async fn a_death_ends_enrolments_and_a_birth_adds_a_dependent(h: Harness) {
    let registry = &h.registry;
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let answers = family_answers(grandmother, daughter, grandson);
    let line = approved(&h, household, answers, "elderly", grandmother).await;

    let person = registry.person(&officer(), grandmother).await.unwrap();
    registry
        .record_death(
            &officer(),
            grandmother,
            person.person.version,
            "2026-11-20",
            Some("death certificate 88/2026"),
            "reported by the village chief",
        )
        .await
        .unwrap();
    let rows = registry
        .enrolments(
            &chief(),
            &dspp_service::EnrolmentFilter {
                commune: Some(dspp_domain::CommuneCode::parse("120101").unwrap()),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    let ended = rows.iter().find(|r| r.id == line).unwrap();
    assert_eq!(ended.status, EnrolmentStatus::Ended);
    assert_eq!(ended.end_reason.as_deref(), Some("death on 2026-11-20"));

    // A birth: the child joins the household as a dependent, and the programs for a child show.
    let household_view = registry.household(&officer(), household).await.unwrap();
    let child = PersonInput {
        family_km: "ហេង".into(),
        given_km: "សុភា".into(),
        family_latin: "HENG".into(),
        given_latin: "SOPHEA".into(),
        sex: "female".into(),
        birth_date: "2026-11-02".into(),
        village: Some(crate::support::VILLAGE.into()),
        ..PersonInput::default()
    };
    let (view, _, programs) = registry
        .record_birth(
            &officer(),
            household,
            household_view.household.version,
            &child,
        )
        .await
        .unwrap();
    assert_eq!(view.members.len(), 4);
    let under_two = programs
        .iter()
        .find(|c| c.program == "children_under_2")
        .expect("the child's programs are listed");
    assert!(
        under_two
            .rules
            .iter()
            .any(|r| r.name.contains("under") && r.passed),
        "{under_two:?}"
    );
    let history = registry
        .household_history(&officer(), household)
        .await
        .unwrap();
    assert_eq!(
        history.last().unwrap().change.reason.as_deref(),
        Some("birth")
    );

    // A birth is recent by definition; an older person joins as a member instead.
    let err = registry
        .record_birth(
            &officer(),
            household,
            view.household.version,
            &PersonInput {
                birth_date: "2015-01-01".into(),
                ..child.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(_)));
}

async fn a_move_carries_enrolments_and_recertification_ends_what_no_longer_applies(h: Harness) {
    let registry = &h.registry;
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let line = approved(
        &h,
        household,
        family_answers(grandmother, daughter, grandson),
        "elderly",
        grandmother,
    )
    .await;

    // The household moves to a village of another commune of the same district.
    let national = actor("officer.national", Role::NationalAdministrator, "national");
    let current = registry.household(&officer(), household).await.unwrap();
    let view = registry
        .move_household(
            &national,
            household,
            current.household.version,
            "12010901",
            "moved to the daughter's husband's village",
        )
        .await
        .unwrap();
    assert_eq!(view.household.village.to_string(), "12010901");
    assert!(
        view.members
            .iter()
            .all(|(_, p)| p.person.record.village.to_string() == "12010901")
    );
    let moved = registry
        .enrolments(
            &national,
            &dspp_service::EnrolmentFilter {
                person_id: None,
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    let moved = moved.iter().find(|r| r.id == line).unwrap();
    assert_eq!(moved.commune.to_string(), "120109");

    // A year on, still eligible: another year.
    h.clock.advance(Duration::days(365));
    let empty = std::collections::BTreeMap::new();
    let (row, check) = registry.recertify(&national, &line, &empty).await.unwrap();
    assert!(check.eligible);
    assert_eq!(row.status, EnrolmentStatus::Approved);
    assert_eq!(
        row.recertify_by,
        h.now()
            .date_naive()
            .checked_add_months(chrono::Months::new(12))
    );

    // The council finds the household no longer poor: recertification ends the enrolment, saying why.
    registry
        .override_poverty_status(
            &council(),
            household,
            "non_poor",
            "re-survey 2027: new income from a shop",
        )
        .await
        .unwrap();
    let statuses = registry
        .poverty_statuses(&council(), household)
        .await
        .unwrap();
    assert_eq!(statuses.last().unwrap().status, "non_poor");
    assert_eq!(
        statuses.last().unwrap().override_reason.as_deref(),
        Some("re-survey 2027: new income from a shop")
    );
    let (row, check) = registry.recertify(&national, &line, &empty).await.unwrap();
    assert!(!check.eligible);
    assert_eq!(row.status, EnrolmentStatus::Ended);
    assert!(row.end_reason.unwrap().contains("IDPoor household"));
}

fn card(id: &str, name_km: &str, name_latin: &str, birth: &str) -> IdCard {
    IdCard {
        id_number: id.into(),
        name_km: name_km.into(),
        name_latin: name_latin.into(),
        birth_date: PartialDate::parse(birth).unwrap(),
        sex: Sex::Female,
        status: CardStatus::Valid,
        expires_on: chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
    }
}

async fn the_national_id_check_waits_for_the_service_and_never_blocks(h: Harness) {
    let registry = &h.registry;
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let connectors = |url: &str| Connectors {
        national_id: Some(
            dspp_exchange::NationalIdClient::new(
                dspp_exchange::Endpoint::direct(url)
                    .unwrap()
                    .with_token(dspp_exchange::SecretToken::new("moi-test-token")),
            )
            .unwrap(),
        ),
        operators: Default::default(),
        operator_client: dspp_exchange::OperatorClient::new().unwrap(),
        backoff: dspp_exchange::BackoffPolicy::default(),
    };
    // The service is down: the check is kept, and enrolment goes on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let round = registry.run_outbox(&connectors(&closed), 10).await.unwrap();
    assert_eq!((round.sent, round.retried), (0, 1));
    approved(
        &h,
        household,
        family_answers(grandmother, daughter, grandson),
        "pregnant_women",
        daughter,
    )
    .await;
    let person = registry.person(&officer(), daughter).await.unwrap().person;
    assert!(matches!(
        person.record.documents[0].verification,
        VerificationStatus::Unverified
    ));

    // The service is back: the daughter's card matches.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let cards = vec![card("010203040", "សុខ ចាន់ធី", "SOK CHANTHY", "1994-03-12")];
    tokio::spawn(dspp_simulators::serve_national_id(
        listener,
        NationalIdConfig::new(cards, "moi-test-token"),
        cancel.clone(),
    ));
    h.clock.advance(Duration::hours(1));
    let round = registry.run_outbox(&connectors(&url), 10).await.unwrap();
    // The ID check is answered; the approved delivery waits, as no operator endpoint is configured here.
    assert_eq!((round.sent, round.retried), (1, 1), "{round:?}");
    let person = registry.person(&officer(), daughter).await.unwrap().person;
    assert!(
        matches!(&person.record.documents[0].verification, VerificationStatus::Verified { source, .. } if source == "national_id"),
        "{:?}",
        person.record.documents[0].verification
    );
    let history = registry.person_history(&officer(), daughter).await.unwrap();
    let last = &history.last().unwrap().change;
    assert_eq!(
        (
            last.action.as_str(),
            last.actor_subject.as_str(),
            last.purpose.as_str()
        ),
        ("verify_identity", "dspp", "verification")
    );

    // A card that names someone else refutes the number, saying which details differ.
    let mut input = crate::people::grandmother();
    input.given_km = "ស្រីនាង".into();
    input.given_latin = "SREYNEANG".into();
    input.documents = vec![dspp_service::DocumentInput {
        kind: "khmer_id_card".into(),
        number: "010203041".into(),
        issuer: None,
    }];
    input.village = Some(crate::support::VILLAGE.into());
    let (other, _) = registry
        .register_person(&officer(), &input, None)
        .await
        .unwrap();
    cancel.cancel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let cards = vec![card("010203041", "សុខ ស្រីនាង", "SOK SREYNEANG", "1961")];
    tokio::spawn(dspp_simulators::serve_national_id(
        listener,
        NationalIdConfig::new(cards, "moi-test-token"),
        cancel.clone(),
    ));
    registry.run_outbox(&connectors(&url), 10).await.unwrap();
    cancel.cancel();
    let refuted = registry
        .person(&officer(), other.person.spid)
        .await
        .unwrap()
        .person;
    assert!(
        matches!(&refuted.record.documents[0].verification, VerificationStatus::Failed { reason, .. } if reason.contains("birth_date")),
        "{:?}",
        refuted.record.documents[0].verification
    );
}

const SCHOLARSHIP: &str = "settings
,form_id,version,form_title::English (en),form_title::Khmer (km),operator,level,approval,delivery
,scholarship,1,Scholarship for poor students,អាហារូបករណ៍សម្រាប់សិស្សក្រីក្រ,MoEYS,person,commune_chief district_officer,moeys
survey
,type,name,label::English (en),label::Khmer (km),required,relevant,constraint
,select_one yes_no,in_school,Is the child enrolled in school?,តើកុមារកំពុងសិក្សាដែរឬទេ?,yes,${age} < 19,
,integer,grade,Grade,ថ្នាក់ទី,yes,${in_school} = 'yes',. >= 1 and . <= 12
choices
,list_name,name,label::English (en),label::Khmer (km)
,yes_no,yes,Yes,បាទ/ចាស
,yes_no,no,No,ទេ
eligibility
,name,rule,label::English (en),label::Khmer (km)
,school_age,${age} >= 6 and ${age} < 19,Aged 6 to 18,អាយុពី ៦ ដល់ ១៨ ឆ្នាំ
,in_school,${in_school} = 'yes',Enrolled in school,កំពុងសិក្សា
";

async fn an_operator_adds_a_program_without_a_code_change(h: Harness) {
    let registry = &h.registry;
    let moeys = {
        let mut a = actor("client:moeys", Role::ProgramOperator, "program:scholarship");
        a.kind = dspp_domain::ActorKind::Client;
        a
    };
    // Not the operator of this program: refused.
    let other = actor("client:nsaf", Role::ProgramOperator, "program:elderly");
    assert!(matches!(
        registry
            .put_program(
                &other,
                Some("scholarship"),
                DefinitionFormat::Csv,
                SCHOLARSHIP.as_bytes()
            )
            .await,
        Err(ServiceError::Forbidden(_))
    ));
    // A bad form: every problem, by sheet, row and column.
    let broken = SCHOLARSHIP
        .replace("${in_school} = 'yes',. >= 1", "${in_scool} = 'yes',. >= 1")
        .replace("${age} < 19,", "${age} <> 19,");
    let err = registry
        .put_program(
            &moeys,
            Some("scholarship"),
            DefinitionFormat::Csv,
            broken.as_bytes(),
        )
        .await
        .unwrap_err();
    let ServiceError::Invalid(problems) = err else {
        panic!("{err:?}")
    };
    assert!(problems.len() >= 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.field.starts_with("survey row 6 column relevant")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.field.starts_with("survey row 7 column relevant")
                && p.reason.contains("in_scool")),
        "{problems:?}"
    );

    let loaded = registry
        .put_program(
            &moeys,
            Some("scholarship"),
            DefinitionFormat::Csv,
            SCHOLARSHIP.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(loaded.definition.approval.len(), 2);
    // The same file again changes nothing; other content under the same version is a conflict.
    registry
        .put_program(
            &moeys,
            Some("scholarship"),
            DefinitionFormat::Csv,
            SCHOLARSHIP.as_bytes(),
        )
        .await
        .unwrap();
    let edited = SCHOLARSHIP.replace("Aged 6 to 18", "Aged six to eighteen");
    assert!(matches!(
        registry
            .put_program(
                &moeys,
                Some("scholarship"),
                DefinitionFormat::Csv,
                edited.as_bytes()
            )
            .await,
        Err(ServiceError::Conflict(_))
    ));

    // The grandson (born 2025) is too young; a 12-year-old in the household qualifies, through two steps.
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let current = registry.household(&officer(), household).await.unwrap();
    let pupil = PersonInput {
        family_km: "ហេង".into(),
        given_km: "វិចិត្រ".into(),
        family_latin: "HENG".into(),
        given_latin: "VICHET".into(),
        sex: "male".into(),
        birth_date: "2014-05-05".into(),
        village: Some(crate::support::VILLAGE.into()),
        ..PersonInput::default()
    };
    let (view, _) = registry
        .add_member(
            &officer(),
            household,
            current.household.version,
            None,
            Some(&dspp_service::MemberInput {
                person: pupil,
                relationship: "grandchild".into(),
                offline: None,
            }),
            "grandchild",
            "came to live with the family",
        )
        .await
        .unwrap();
    let pupil = view
        .members
        .iter()
        .find(|(_, p)| p.person.record.name.full_latin() == "HENG VICHET")
        .unwrap()
        .1
        .person
        .spid;
    let mut answers = family_answers(grandmother, daughter, grandson);
    answers.push(SubjectAnswers {
        subject: SubjectRef::Person(pupil),
        answers: [
            ("in_school".to_string(), Answer::Bool(true)),
            ("grade".to_string(), Answer::Number(6.0)),
            ("disability_card".to_string(), Answer::Bool(false)),
        ]
        .into_iter()
        .collect(),
    });
    let checks = registry
        .check_eligibility(&officer(), household, &answers)
        .await
        .unwrap();
    let for_pupil = checks
        .iter()
        .find(|c| c.program == "scholarship" && c.subject == SubjectRef::Person(pupil))
        .unwrap();
    assert!(for_pupil.eligible, "{for_pupil:?}");
    let application = registry
        .submit_application(
            &officer(),
            &NewApplication {
                household,
                opened_at: None,
                answers,
                programs: vec![ProgramChoice {
                    program: "scholarship".into(),
                    subject: SubjectRef::Person(pupil),
                }],
            },
        )
        .await
        .unwrap();
    let line = application.enrolments[0].row.id.clone();
    let decide = |who: dspp_domain::Actor| {
        let id = application.application.id.clone();
        let line = line.clone();
        async move {
            registry
                .decide(
                    &who,
                    &id,
                    &[Decision {
                        enrolment_id: line,
                        approve: true,
                        reason: None,
                    }],
                )
                .await
        }
    };
    // The district step cannot come first.
    let district = actor("officer.district", Role::DistrictOfficer, "district:1201");
    assert!(matches!(
        decide(district.clone()).await,
        Err(ServiceError::Forbidden(_))
    ));
    let view = decide(chief()).await.unwrap();
    assert_eq!(
        view.enrolments[0].row.status,
        EnrolmentStatus::Pending,
        "one step of two"
    );
    let view = decide(district).await.unwrap();
    assert_eq!(view.enrolments[0].row.status, EnrolmentStatus::Approved);
    assert_eq!(view.enrolments[0].approvals.len(), 2);
    assert_eq!(
        view.enrolments[0].delivery.as_ref().unwrap().destination,
        "moeys"
    );
}

on_both_stores!(
    a_death_ends_enrolments_and_a_birth_adds_a_dependent,
    a_move_carries_enrolments_and_recertification_ends_what_no_longer_applies,
    the_national_id_check_waits_for_the_service_and_never_blocks,
    an_operator_adds_a_program_without_a_code_change,
);
