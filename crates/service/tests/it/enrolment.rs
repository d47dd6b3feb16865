//! The enrolment workflow end to end: one submission for several programs, one chief approval, delivery to
//! the operator simulator through the outbox (which fails twice first), the national ID check through its
//! simulator, durations, and approval under a delegation.

use std::collections::BTreeMap;

use chrono::Duration;
use dspp_domain::{EnrolmentStatus, HouseholdId, Role, Spid};
use dspp_service::{
    Answer, Connectors, Decision, NewApplication, NewDelegation, ProgramChoice, ReportFilter,
    ServiceError, SubjectAnswers, SubjectRef,
};
use dspp_simulators::{OperatorConfig, ReceivedDelivery};
use tokio_util::sync::CancellationToken;

use crate::people::household_of_three;
use crate::support::{Harness, actor, officer};
use dspp_testkit::on_both_stores;

pub fn chief() -> dspp_domain::Actor {
    let mut chief = actor("chief.sophal", Role::CommuneChief, "commune:120101");
    chief.purpose = dspp_domain::Purpose::Approval;
    chief
}

pub fn council() -> dspp_domain::Actor {
    actor("council.vanna", Role::NationalAdministrator, "national")
}

fn answers(pairs: &[(&str, Answer)]) -> BTreeMap<String, Answer> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn text(value: &str) -> Answer {
    Answer::Text(value.into())
}

/// The family of the acceptance test: a grandmother of 67 with a disability card, a pregnant
/// daughter and a grandson, in an IDPoor 1 household. Returns the household and the three SPIDs.
pub async fn the_family(h: &Harness) -> (HouseholdId, Spid, Spid, Spid) {
    let (view, _) = h
        .registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let spids: Vec<Spid> = view.members.iter().map(|(_, p)| p.person.spid).collect();
    h.registry
        .override_poverty_status(
            &council(),
            view.household.id,
            "idpoor1",
            "holds IDPoor equity card 12-0101-000123 (round 2024)",
        )
        .await
        .unwrap();
    (view.household.id, spids[0], spids[1], spids[2])
}

pub fn family_answers(grandmother: Spid, daughter: Spid, grandson: Spid) -> Vec<SubjectAnswers> {
    vec![
        SubjectAnswers {
            subject: SubjectRef::Person(grandmother),
            answers: answers(&[
                ("disability_card", text("yes")),
                ("disability_card_number", text("DIS-2019-4471")),
                ("difficulties", Answer::Choices(vec!["walking".into()])),
                ("pregnant", Answer::Bool(false)),
            ]),
        },
        SubjectAnswers {
            subject: SubjectRef::Person(daughter),
            answers: answers(&[
                ("disability_card", Answer::Bool(false)),
                ("pregnant", Answer::Bool(true)),
                ("pregnancy_months", Answer::Number(5.0)),
                ("health_centre", text("Boeung Keng Kang health centre")),
            ]),
        },
        SubjectAnswers {
            subject: SubjectRef::Person(grandson),
            answers: answers(&[("disability_card", Answer::Bool(false))]),
        },
    ]
}

async fn start_operator(fail_first: u32) -> (String, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let config = OperatorConfig {
        fail_first,
        beneficiary_prefix: "NSAF".into(),
        ..OperatorConfig::default()
    };
    tokio::spawn(dspp_simulators::serve_operator(
        listener,
        config,
        cancel.clone(),
    ));
    (url, cancel)
}

fn connectors(operator_url: &str) -> Connectors {
    let endpoint = dspp_exchange::Endpoint::direct(operator_url).unwrap();
    Connectors {
        national_id: None,
        operators: [("nsaf".to_string(), endpoint)].into_iter().collect(),
        operator_client: dspp_exchange::OperatorClient::new().unwrap(),
        backoff: dspp_exchange::BackoffPolicy::default(),
    }
}

async fn received(operator_url: &str) -> Vec<ReceivedDelivery> {
    reqwest::get(format!("{operator_url}/_sim/received"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn one_submission_one_approval_one_delivery_per_program(h: Harness) {
    let registry = &h.registry;
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let given = family_answers(grandmother, daughter, grandson);

    // The officer sees which programs apply to whom, and why or why not.
    let checks = registry
        .check_eligibility(&officer(), household, &given)
        .await
        .unwrap();
    let check = |program: &str, spid: Spid| {
        checks
            .iter()
            .find(|c| c.program == program && c.subject == SubjectRef::Person(spid))
            .unwrap_or_else(|| panic!("{program} for {spid}"))
    };
    for (program, spid) in [
        ("elderly", grandmother),
        ("disability", grandmother),
        ("pregnant_women", daughter),
    ] {
        let c = check(program, spid);
        assert!(c.eligible, "{program}: {c:?}");
        assert!(c.rules.iter().all(|r| r.passed));
    }
    let not_old = check("elderly", daughter);
    assert!(!not_old.eligible);
    let failed: Vec<&str> = not_old
        .rules
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.label.en.as_str())
        .collect();
    assert_eq!(failed, ["Aged 60 or over"], "why not, in the rule's words");
    assert!(!check("pregnant_women", grandson).eligible);

    // One application for the three programs.
    let opened_at = h.now() - Duration::minutes(12);
    let choose = |program: &str, spid: Spid| ProgramChoice {
        program: program.into(),
        subject: SubjectRef::Person(spid),
    };
    let input = NewApplication {
        household,
        opened_at: Some(opened_at),
        answers: given.clone(),
        programs: vec![
            choose("elderly", grandmother),
            choose("disability", grandmother),
            choose("pregnant_women", daughter),
        ],
    };
    let application = registry
        .submit_application(&officer(), &input)
        .await
        .unwrap();
    assert_eq!(application.enrolments.len(), 3);
    assert!(
        application
            .enrolments
            .iter()
            .all(|e| e.row.status == EnrolmentStatus::Pending)
    );

    // The same person and program again: refused, nothing written.
    let again = NewApplication {
        programs: vec![choose("elderly", grandmother)],
        ..input.clone()
    };
    let err = registry
        .submit_application(&officer(), &again)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Conflict(m) if m.contains("elderly")),
        "{err:?}"
    );
    // A program someone is not eligible for: refused with the rule that failed.
    let wrong = NewApplication {
        programs: vec![choose("elderly", daughter)],
        ..input.clone()
    };
    let err = registry
        .submit_application(&officer(), &wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Invalid(p) if p[0].reason.contains("Aged 60 or over")),
        "{err:?}"
    );

    // The officer who submitted cannot approve, not even with the chief's role.
    let decisions: Vec<Decision> = application
        .enrolments
        .iter()
        .map(|e| Decision {
            enrolment_id: e.row.id.clone(),
            approve: true,
            reason: None,
        })
        .collect();
    let mut officer_as_chief = chief();
    officer_as_chief.subject = officer().subject;
    let err = registry
        .decide(&officer_as_chief, &application.application.id, &decisions)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(m) if m.contains("may not approve")),
        "{err:?}"
    );

    // One chief approval for all three.
    h.clock.advance(Duration::minutes(30));
    let approved = registry
        .decide(&chief(), &application.application.id, &decisions)
        .await
        .unwrap();
    for line in &approved.enrolments {
        assert_eq!(
            line.row.status,
            EnrolmentStatus::Approved,
            "{}",
            line.row.program_code
        );
        assert_eq!(line.approvals.len(), 1);
        assert_eq!(line.approvals[0].actor_subject, "chief.sophal");
        assert_eq!(line.approvals[0].on_behalf_of, None);
        assert_eq!(line.delivery.as_ref().unwrap().status, "pending");
    }
    // Deciding an approved line again is a conflict, not a second approval.
    let err = registry
        .decide(&chief(), &application.application.id, &decisions[..1])
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");

    // The operator fails every delivery twice before taking it.
    let (operator_url, operator) = start_operator(2).await;
    let connectors = connectors(&operator_url);
    let mut sent = 0;
    for _ in 0..6 {
        let round = registry.run_outbox(&connectors, 50).await.unwrap();
        sent += round.sent;
        // Past any backoff the policy can choose for the third attempt.
        h.clock.advance(Duration::minutes(20));
    }
    // The daughter's Khmer ID check waits for a national ID service: it is not one of the deliveries.
    assert_eq!(sent, 3);
    let got = received(&operator_url).await;
    assert_eq!(got.len(), 3, "exactly one delivery per program: {got:?}");
    let mut programs: Vec<&str> = got.iter().map(|r| r.program_code.as_str()).collect();
    programs.sort_unstable();
    assert_eq!(programs, ["disability", "elderly", "pregnant_women"]);
    assert!(
        got.iter().all(|r| r.attempts == 3 && r.replays == 0),
        "{got:?}"
    );
    operator.cancel();

    let view = registry
        .application(&chief(), &application.application.id)
        .await
        .unwrap();
    for line in &view.enrolments {
        assert_eq!(line.row.status, EnrolmentStatus::Delivered);
        let beneficiary = line.row.beneficiary_id.as_deref().unwrap();
        assert!(got.iter().any(|r| r.beneficiary_id == beneficiary));
        let delivery = line.delivery.as_ref().unwrap();
        assert_eq!((delivery.status.as_str(), delivery.attempts), ("done", 3));
    }
    assert!(view.events.iter().any(|e| {
        e.to_status == "delivered"
            && e.note
                .as_deref()
                .is_some_and(|n| n.starts_with("delivered to nsaf"))
    }));

    // Durations: 12 minutes to fill the form, 30 to the chief's decision.
    let report = registry
        .enrolment_durations(
            &chief(),
            &ReportFilter {
                commune: Some(dspp_domain::CommuneCode::parse("120101").unwrap()),
                ..ReportFilter::default()
            },
        )
        .await
        .unwrap();
    let elderly = report.iter().find(|r| r.program == "elderly").unwrap();
    assert_eq!(elderly.by_status.get("delivered"), Some(&1));
    assert_eq!(elderly.open_to_submit.median_seconds, Some(12 * 60));
    assert_eq!(elderly.submit_to_decision.median_seconds, Some(30 * 60));
    assert!(elderly.approve_to_deliver.median_seconds.unwrap() >= 40 * 60);
}

async fn a_delegate_approves_on_the_chiefs_authority(h: Harness) {
    let registry = &h.registry;
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let input = NewApplication {
        household,
        opened_at: None,
        answers: family_answers(grandmother, daughter, grandson),
        programs: vec![ProgramChoice {
            program: "elderly".into(),
            subject: SubjectRef::Person(grandmother),
        }],
    };
    let application = registry
        .submit_application(&officer(), &input)
        .await
        .unwrap();
    let line = application.enrolments[0].row.id.clone();
    let approve = [Decision {
        enrolment_id: line.clone(),
        approve: true,
        reason: None,
    }];
    let dara = actor("officer.dara", Role::Officer, "commune:120101");

    // Without a delegation, an officer cannot approve.
    let err = registry
        .decide(&dara, &application.application.id, &approve)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(m) if m.contains("no delegation")),
        "{err:?}"
    );

    // Only a chief delegates, with a letter, for a bounded period.
    let delegation = NewDelegation {
        delegate: "officer.dara".into(),
        letter_reference: "Commune decision 45/2026".into(),
        valid_from: h.now(),
        valid_until: h.now() + Duration::days(14),
    };
    assert!(matches!(
        registry.grant_delegation(&officer(), &delegation).await,
        Err(ServiceError::Forbidden(_))
    ));
    let err = registry
        .grant_delegation(
            &chief(),
            &NewDelegation {
                letter_reference: " ".into(),
                valid_until: h.now() - Duration::days(1),
                ..delegation.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Invalid(p) if p.len() >= 2),
        "every problem at once: {err:?}"
    );
    let grant = registry
        .grant_delegation(&chief(), &delegation)
        .await
        .unwrap();

    let view = registry
        .decide(&dara, &application.application.id, &approve)
        .await
        .unwrap();
    let approval = &view.enrolments[0].approvals[0];
    assert_eq!(approval.actor_subject, "officer.dara");
    assert_eq!(approval.on_behalf_of.as_deref(), Some("chief.sophal"));
    assert_eq!(
        approval.delegation_reference.as_deref(),
        Some("Commune decision 45/2026")
    );
    assert_eq!(approval.delegation_id.as_deref(), Some(grant.id.as_str()));
    let event = view
        .events
        .iter()
        .rev()
        .find(|e| e.to_status == "approved")
        .unwrap();
    assert_eq!(event.on_behalf_of.as_deref(), Some("chief.sophal"));

    // The delegate's own submission stays out of their reach.
    let own = registry
        .submit_application(
            &dara,
            &NewApplication {
                programs: vec![ProgramChoice {
                    program: "pregnant_women".into(),
                    subject: SubjectRef::Person(daughter),
                }],
                ..input.clone()
            },
        )
        .await
        .unwrap();
    let err = registry
        .decide(
            &dara,
            &own.application.id,
            &[Decision {
                enrolment_id: own.enrolments[0].row.id.clone(),
                approve: true,
                reason: None,
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(m) if m.contains("may not approve")),
        "{err:?}"
    );

    // Once revoked, the delegation no longer carries authority.
    registry
        .revoke_delegation(&chief(), &grant.id, "the chief is back")
        .await
        .unwrap();
    let err = registry
        .decide(
            &actor("officer.dara", Role::Officer, "commune:120101"),
            &own.application.id,
            &[Decision {
                enrolment_id: own.enrolments[0].row.id.clone(),
                approve: false,
                reason: Some("test".into()),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)));
}

async fn a_rejected_line_is_corrected_and_resubmitted(h: Harness) {
    let registry = &h.registry;
    let (household, grandmother, daughter, grandson) = the_family(&h).await;
    let mut given = family_answers(grandmother, daughter, grandson);
    let input = NewApplication {
        household,
        opened_at: None,
        answers: given.clone(),
        programs: vec![
            ProgramChoice {
                program: "disability".into(),
                subject: SubjectRef::Person(grandmother),
            },
            ProgramChoice {
                program: "elderly".into(),
                subject: SubjectRef::Person(grandmother),
            },
        ],
    };
    let application = registry
        .submit_application(&officer(), &input)
        .await
        .unwrap();
    let id = &application.application.id;
    let line_of = |program: &str| {
        application
            .enrolments
            .iter()
            .find(|e| e.row.program_code == program)
            .unwrap()
            .row
            .id
            .clone()
    };
    // A rejection needs a reason.
    let err = registry
        .decide(
            &chief(),
            id,
            &[Decision {
                enrolment_id: line_of("disability"),
                approve: false,
                reason: None,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(_)));
    // Some approved, some rejected, in one act.
    let view = registry
        .decide(
            &chief(),
            id,
            &[
                Decision {
                    enrolment_id: line_of("disability"),
                    approve: false,
                    reason: Some("the card number does not match the MoSVY register".into()),
                },
                Decision {
                    enrolment_id: line_of("elderly"),
                    approve: true,
                    reason: None,
                },
            ],
        )
        .await
        .unwrap();
    let status = |view: &dspp_service::ApplicationView, program: &str| {
        view.enrolments
            .iter()
            .find(|e| e.row.program_code == program)
            .unwrap()
            .row
            .status
    };
    assert_eq!(status(&view, "disability"), EnrolmentStatus::Rejected);
    assert_eq!(status(&view, "elderly"), EnrolmentStatus::Approved);

    // A contradictory correction is refused precisely: months of pregnancy for someone not pregnant.
    given[0]
        .answers
        .insert("pregnancy_months".into(), Answer::Number(3.0));
    let err = registry
        .resubmit(&officer(), id, 1, &[line_of("disability")], &given)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Invalid(p) if p[0].field.ends_with(".pregnancy_months")),
        "{err:?}"
    );
    given[0].answers.remove("pregnancy_months");
    given[0]
        .answers
        .insert("disability_card_number".into(), text("DIS-2019-4417"));
    let view = registry
        .resubmit(&officer(), id, 1, &[line_of("disability")], &given)
        .await
        .unwrap();
    assert_eq!(view.application.version, 2);
    assert_eq!(status(&view, "disability"), EnrolmentStatus::Pending);
    let view = registry
        .decide(
            &chief(),
            id,
            &[Decision {
                enrolment_id: line_of("disability"),
                approve: true,
                reason: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!(status(&view, "disability"), EnrolmentStatus::Approved);
    let transitions: Vec<(Option<&str>, &str)> = view
        .events
        .iter()
        .filter(|e| e.enrolment_id.as_deref() == Some(line_of("disability").as_str()))
        .map(|e| (e.from_status.as_deref(), e.to_status.as_str()))
        .collect();
    assert_eq!(
        transitions,
        [
            (None, "pending"),
            (Some("pending"), "rejected"),
            (Some("rejected"), "pending"),
            (Some("pending"), "approved")
        ]
    );
}

on_both_stores!(
    one_submission_one_approval_one_delivery_per_program,
    a_delegate_approves_on_the_chiefs_authority,
    a_rejected_line_is_corrected_and_resubmitted,
);

async fn an_idpoor_score_sets_the_status_and_a_failing_operator_holds_up_no_other(h: Harness) {
    let registry = &h.registry;
    // No poverty status on record: the IDPoor questionnaire in the same submission gives it.
    let (view, _) = registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let household = view.household.id;
    let spids: Vec<Spid> = view.members.iter().map(|(_, p)| p.person.spid).collect();
    let (grandmother, daughter, grandson) = (spids[0], spids[1], spids[2]);
    let mut given = family_answers(grandmother, daughter, grandson);
    given.push(SubjectAnswers {
        subject: SubjectRef::Household,
        answers: answers(&[
            ("roof", text("thatch")),
            ("walls", text("thatch")),
            ("house_area", Answer::Number(8.0)),
            ("toilet", text("none")),
            ("water", text("surface")),
            ("light", text("none")),
            ("agricultural_land", Answer::Number(0.0)),
            ("main_income", text("casual_labour")),
            ("earners", Answer::Number(0.0)),
            ("dependants", Answer::Number(2.0)),
            ("crisis", text("yes")),
        ]),
    });
    let checks = registry
        .check_eligibility(&officer(), household, &given)
        .await
        .unwrap();
    let idpoor = checks.iter().find(|c| c.program == "idpoor").unwrap();
    assert!(idpoor.eligible, "{idpoor:?}");
    assert_eq!(idpoor.status.as_deref(), Some("idpoor1"), "{idpoor:?}");
    assert!(idpoor.score.unwrap() >= 45.0);
    // The computed status counts for the other programs of the same submission.
    assert!(checks.iter().any(|c| c.program == "elderly" && c.eligible));

    let application = registry
        .submit_application(
            &officer(),
            &NewApplication {
                household,
                opened_at: None,
                answers: given,
                programs: vec![
                    ProgramChoice {
                        program: "idpoor".into(),
                        subject: SubjectRef::Household,
                    },
                    ProgramChoice {
                        program: "elderly".into(),
                        subject: SubjectRef::Person(grandmother),
                    },
                ],
            },
        )
        .await
        .unwrap();
    let decisions: Vec<Decision> = application
        .enrolments
        .iter()
        .map(|e| Decision {
            enrolment_id: e.row.id.clone(),
            approve: true,
            reason: None,
        })
        .collect();
    registry
        .decide(&chief(), &application.application.id, &decisions)
        .await
        .unwrap();
    let statuses = registry
        .poverty_statuses(&chief(), household)
        .await
        .unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].computed_status.as_deref(), Some("idpoor1"));
    assert!(statuses[0].override_reason.is_none());

    // The Ministry of Planning's endpoint is down; NSAF's is up: NSAF still gets its delivery.
    let (nsaf_url, nsaf) = start_operator(0).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut connectors = connectors(&nsaf_url);
    connectors.operators.insert(
        "mop".into(),
        dspp_exchange::Endpoint::direct(&closed).unwrap(),
    );
    let round = registry.run_outbox(&connectors, 50).await.unwrap();
    // Retried: the delivery to the Ministry of Planning, and the daughter's ID check (no service here).
    assert_eq!((round.sent, round.retried), (1, 2), "{round:?}");
    nsaf.cancel();
    let view = registry
        .application(&chief(), &application.application.id)
        .await
        .unwrap();
    let line = |program: &str| {
        view.enrolments
            .iter()
            .find(|e| e.row.program_code == program)
            .unwrap()
    };
    assert_eq!(line("elderly").row.status, EnrolmentStatus::Delivered);
    assert_eq!(line("idpoor").row.status, EnrolmentStatus::Approved);
    let waiting = line("idpoor").delivery.as_ref().unwrap();
    assert_eq!(waiting.status, "pending");
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable"),
        "{waiting:?}"
    );
    assert!(waiting.next_attempt_at > h.now());
}

on_both_stores!(an_idpoor_score_sets_the_status_and_a_failing_operator_holds_up_no_other);
