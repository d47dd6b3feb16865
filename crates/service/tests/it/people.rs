//! Enrolling, reading, correcting and merging people.

use dspp_domain::{AssuranceCategory, Role, Spid};
use dspp_service::{DocumentInput, MemberInput, NewHousehold, PersonInput, ServiceError};
use dspp_store::Store;

use crate::support::{Harness, VILLAGE, actor, officer};
use dspp_testkit::on_both_stores;

pub fn grandmother() -> PersonInput {
    PersonInput {
        family_km: "សុខ".into(),
        given_km: "ស្រីមុំ".into(),
        family_latin: "SOK".into(),
        given_latin: "SREYMOM".into(),
        sex: "female".into(),
        birth_date: "1959".into(),
        documents: vec![DocumentInput {
            kind: "family_book".into(),
            number: "FB-77/2019".into(),
            issuer: None,
        }],
        ..PersonInput::default()
    }
}

pub fn member(person: PersonInput, relationship: &str) -> MemberInput {
    MemberInput {
        person,
        relationship: relationship.into(),
        offline: None,
    }
}

pub fn household_of_three() -> NewHousehold {
    let daughter = PersonInput {
        given_km: "ចាន់ធី".into(),
        given_latin: "CHANTHY".into(),
        birth_date: "1994-03-12".into(),
        documents: vec![DocumentInput {
            kind: "khmer_id_card".into(),
            number: "010203040".into(),
            issuer: None,
        }],
        ..grandmother()
    };
    let grandson = PersonInput {
        family_km: "ហេង".into(),
        given_km: "ដារ៉ា".into(),
        family_latin: "HENG".into(),
        given_latin: "DARA".into(),
        sex: "male".into(),
        birth_date: "2025-06-01".into(),
        documents: vec![],
        ..grandmother()
    };
    NewHousehold {
        village: VILLAGE.into(),
        address_detail: Some("House 12, Street 310".into()),
        members: vec![
            member(grandmother(), "head"),
            member(daughter, "child"),
            member(grandson, "grandchild"),
        ],
    }
}

async fn a_household_of_three_gets_three_valid_distinct_spids_that_survive_a_restart(h: Harness) {
    let (view, warnings) = h
        .registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    assert!(warnings.is_empty());
    let spids: Vec<Spid> = view.members.iter().map(|(_, p)| p.person.spid).collect();
    assert_eq!(spids.len(), 3);
    for spid in &spids {
        assert_eq!(Spid::parse(&spid.to_string()), Ok(*spid), "a valid SPID");
    }
    let mut distinct = spids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
    assert_eq!(
        view.members[0].1.person.record.name.given_latin, "SREYMOM",
        "head first"
    );
    assert_eq!(
        view.members[0].1.assurance.category,
        AssuranceCategory::DocumentedCore
    );
    assert_eq!(
        view.members[2].1.assurance.category,
        AssuranceCategory::Declared
    );

    // A restart: a new pool on the same database sees everything that was acknowledged.
    h.registry.store().close().await;
    let store = Store::connect(&h.url).await.unwrap();
    assert!(store.migrate().await.unwrap().is_empty(), "already current");
    let registry = dspp_service::Registry::new(store, h.clock.clone(), Some(7));
    for spid in spids {
        let person = registry.person(&officer(), spid).await.unwrap();
        assert_eq!(person.person.spid, spid);
        assert_eq!(person.person.household, Some(view.household.id));
    }
}

async fn bad_input_is_refused_precisely_and_writes_nothing(h: Harness) {
    let mut household = household_of_three();
    household.members[1].person.birth_date = "2031-01-01".into();
    household.members[2].person.village = Some("12010199".into());
    household.members[2].relationship = "cousin".into();
    let err = h
        .registry
        .register_household(&officer(), &household)
        .await
        .unwrap_err();
    let ServiceError::Invalid(problems) = err else {
        panic!("expected Invalid, got {err:?}")
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "members[1].birth_date",
            "members[2].relationship",
            "members[2].village"
        ]
    );

    let mut household = household_of_three();
    household.village = "12010199".into();
    for m in &mut household.members {
        m.person.village = None;
    }
    let err = h
        .registry
        .register_household(&officer(), &household)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input was refused: village: 12010199 is not a village of the gazetteer"
    );

    let page = h
        .registry
        .list_people(&officer(), None, None, None, 100)
        .await
        .unwrap();
    assert!(page.items.is_empty(), "nothing partial was written");
}

async fn corrections_are_versioned_and_stale_writes_conflict(h: Harness) {
    let (view, _) = h
        .registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let spid = view.members[0].1.person.spid;
    let mut corrected = grandmother();
    corrected.birth_date = "1958".into();
    corrected.phone = Some("012 345 678".into());
    let (updated, _) = h
        .registry
        .update_person(
            &officer(),
            spid,
            1,
            &corrected,
            "birth year from family book",
        )
        .await
        .unwrap();
    assert_eq!(updated.person.version, 2);
    assert_eq!(updated.person.record.phone.as_deref(), Some("012345678"));

    // A second officer who read version 1 cannot overwrite the correction.
    let mut other = grandmother();
    other.given_latin = "SREY MOM".into();
    let err = h
        .registry
        .update_person(&officer(), spid, 1, &other, "spelling")
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Stale(_)), "{err:?}");
    let err = h
        .registry
        .update_person(&officer(), spid, 2, &corrected, "again")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input was refused: record: nothing would change"
    );
    let err = h
        .registry
        .update_person(&officer(), spid, 2, &other, " ")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input was refused: reason: every change needs a reason"
    );

    let history = h.registry.person_history(&officer(), spid).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].person.record.birth_date.to_string(), "1959");
    assert_eq!(history[0].change.action, "create");
    assert_eq!(history[1].person.record.birth_date.to_string(), "1958");
    assert_eq!(history[1].change.actor_subject, "officer.sokha");
    assert_eq!(history[1].change.actor_scope, "commune:120101");
    assert_eq!(
        history[1].change.reason.as_deref(),
        Some("birth year from family book")
    );

    let dead = h
        .registry
        .record_death(
            &officer(),
            spid,
            2,
            "2026-10-01",
            Some("DC-1/2026"),
            "death certificate",
        )
        .await
        .unwrap();
    assert_eq!(dead.person.version, 3);
    assert!(!dead.person.is_alive());
    let err = h
        .registry
        .record_death(&officer(), spid, 3, "2026-10-02", None, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)));
}

async fn actors_act_only_within_their_scope(h: Harness) {
    let elsewhere = actor("officer.dara", Role::Officer, "commune:020101");
    let err = h
        .registry
        .register_household(&elsewhere, &household_of_three())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "forbidden: acting for commune:020101 does not cover commune 120101"
    );
    let (view, _) = h
        .registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let spid = view.members[0].1.person.spid;
    assert!(matches!(
        h.registry.person(&elsewhere, spid).await,
        Err(ServiceError::Forbidden(_))
    ));
    let operator = actor(
        "client:nsaf",
        Role::ProgramOperator,
        "program:family_package",
    );
    assert!(matches!(
        h.registry.person(&operator, spid).await,
        Err(ServiceError::Forbidden(_))
    ));
    let province = actor("pdosvy.pp", Role::ProvincialOfficer, "province:12");
    assert_eq!(
        h.registry
            .person(&province, spid)
            .await
            .unwrap()
            .person
            .spid,
        spid
    );
    let page = h
        .registry
        .list_people(&province, Some("1201"), None, None, 2)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = h
        .registry
        .list_people(&province, Some("1201"), None, page.next_after, 2)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_after.is_none());
    assert!(matches!(
        h.registry
            .list_people(&officer(), Some("02"), None, None, 10)
            .await,
        Err(ServiceError::Forbidden(_))
    ));
}

async fn a_merged_spid_becomes_an_alias_of_the_survivor(h: Harness) {
    let (first, _) = h
        .registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let (again, warnings) = h
        .registry
        .register_person(
            &officer(),
            &{
                let mut p = grandmother();
                p.village = Some(VILLAGE.into());
                p
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        warnings.len(),
        2,
        "the shared family book and the biographic match are flagged: {warnings:?}"
    );
    assert_eq!(warnings[0].code, "shared_document");
    let survivor = first.members[0].1.person.spid;
    let duplicate = again.person.spid;
    assert_eq!(warnings[0].spids, vec![survivor]);
    assert_eq!(warnings[1].code, "possible_duplicate");
    assert_eq!(warnings[1].spids, vec![survivor]);
    assert!(warnings[1].duplicate.is_some(), "{warnings:?}");

    let merged = h
        .registry
        .merge_people(
            &officer(),
            survivor,
            duplicate,
            "same person, enrolled twice",
        )
        .await
        .unwrap();
    assert_eq!(merged.person.spid, survivor);
    let resolved = h.registry.person(&officer(), duplicate).await.unwrap();
    assert_eq!(resolved.person.spid, survivor);
    assert_eq!(resolved.resolved_from, Some(duplicate));
    let count = h
        .registry
        .list_people(&officer(), None, None, None, 100)
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(count, 3, "the merged record no longer counts as a person");
    let err = h
        .registry
        .merge_people(&officer(), survivor, duplicate, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");
    let history = h
        .registry
        .person_history(&officer(), duplicate)
        .await
        .unwrap();
    assert_eq!(
        history.last().map(|v| v.change.action.as_str()),
        Some("create"),
        "history of the survivor"
    );
}

on_both_stores!(
    a_household_of_three_gets_three_valid_distinct_spids_that_survive_a_restart,
    bad_input_is_refused_precisely_and_writes_nothing,
    corrections_are_versioned_and_stale_writes_conflict,
    actors_act_only_within_their_scope,
    a_merged_spid_becomes_an_alias_of_the_survivor,
);

async fn the_demo_population_looks_like_a_commune(h: Harness) {
    let summary = h.registry.load_demo(40, 7).await.unwrap();
    assert_eq!(summary.households, 40);
    assert!(summary.people >= 80, "{summary:?}");
    let national = actor("audit.1", Role::Auditor, "national");
    let people = h
        .registry
        .list_people(&national, None, None, None, 500)
        .await
        .unwrap()
        .items;
    assert_eq!(people.len() as u64, summary.people);
    let with = |category: AssuranceCategory| {
        people
            .iter()
            .filter(|p| p.assurance.category == category)
            .count()
    };
    assert!(
        with(AssuranceCategory::DocumentedCore) > 0 && with(AssuranceCategory::Declared) > 0,
        "a mix of categories"
    );
    let year_only = people
        .iter()
        .filter(|p| p.person.record.birth_date.precision() == dspp_domain::DatePrecision::Year)
        .count();
    assert!(
        year_only > 0,
        "some elderly people know only their birth year"
    );
    // Households 20 and 40 re-enrol an earlier head with another spelling: both are in the queue.
    assert!(summary.duplicate_cases >= 2, "{summary:?}");
    let queue = h
        .registry
        .duplicate_cases(
            &national,
            &dspp_service::CaseFilter {
                limit: 500,
                ..dspp_service::CaseFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(queue.len() as u64, summary.duplicate_cases);
}

on_both_stores!(the_demo_population_looks_like_a_commune);
