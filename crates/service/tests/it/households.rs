//! Reshaping households: change of head, new members, splits and merges, each with history.

use dspp_domain::{Relationship, Spid};
use dspp_service::{MemberInput, PersonInput, ServiceError};

use crate::people::{grandmother, household_of_three};
use crate::support::{Harness, officer};
use dspp_testkit::on_both_stores;

async fn a_household_changes_head_grows_splits_and_merges(h: Harness) {
    let registry = &h.registry;
    let (view, _) = registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let id = view.household.id;
    let spids: Vec<Spid> = view.members.iter().map(|(_, p)| p.person.spid).collect();
    let (grandmother_spid, daughter, grandson) = (spids[0], spids[1], spids[2]);

    let err = registry
        .change_head(
            &officer(),
            id,
            1,
            daughter,
            &[(grandmother_spid, "parent".into())],
            "head is ill",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Invalid(_)),
        "every relationship is needed: {err:?}"
    );
    let view = registry
        .change_head(
            &officer(),
            id,
            1,
            daughter,
            &[
                (grandmother_spid, "parent".into()),
                (grandson, "child".into()),
            ],
            "head is ill",
        )
        .await
        .unwrap();
    assert_eq!(view.household.version, 2);
    assert_eq!(view.members[0].1.person.spid, daughter);
    assert_eq!(view.members[0].0, Relationship::Head);

    let err = registry
        .change_head(&officer(), id, 1, grandmother_spid, &[], "stale")
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Stale(_)));

    let newborn = MemberInput {
        person: PersonInput {
            family_km: "ហេង".into(),
            given_km: "ធីតា".into(),
            family_latin: "HENG".into(),
            given_latin: "THIDA".into(),
            birth_date: "2026-11-20".into(),
            documents: vec![],
            ..grandmother()
        },
        relationship: "child".into(),
        offline: None,
    };
    let (view, _) = registry
        .add_member(&officer(), id, 2, None, Some(&newborn), "child", "birth")
        .await
        .unwrap();
    assert_eq!(view.members.len(), 4);
    let baby = view
        .members
        .iter()
        .find(|(_, p)| p.person.record.name.given_latin == "THIDA")
        .unwrap()
        .1
        .person
        .spid;

    // The grandson grows up and sets up his own home, taking nobody else.
    let (old, new) = registry
        .split_household(
            &officer(),
            id,
            3,
            &[(grandson, "head".into())],
            Some("House 14"),
            "marriage",
        )
        .await
        .unwrap();
    assert_eq!(old.members.len(), 3);
    assert_eq!(new.members.len(), 1);
    assert_eq!(
        registry
            .person(&officer(), grandson)
            .await
            .unwrap()
            .person
            .household,
        Some(new.household.id)
    );

    // And later they move back in.
    let merged = registry
        .merge_households(
            &officer(),
            id,
            4,
            new.household.id,
            1,
            &[(grandson, "child".into())],
            "moved back",
        )
        .await
        .unwrap();
    assert_eq!(merged.members.len(), 4);
    let gone = registry
        .household(&officer(), new.household.id)
        .await
        .unwrap();
    assert!(gone.household.dissolved);
    let err = registry
        .add_member(
            &officer(),
            new.household.id,
            2,
            Some(baby),
            None,
            "child",
            "x",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Invalid(_)),
        "a dissolved household cannot change: {err:?}"
    );

    let view = registry
        .remove_member(&officer(), id, 5, baby, "adopted by relatives")
        .await
        .unwrap();
    assert_eq!(view.members.len(), 3);
    assert_eq!(
        registry
            .person(&officer(), baby)
            .await
            .unwrap()
            .person
            .household,
        None
    );

    let history = registry.household_history(&officer(), id).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|v| v.change.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create",
            "change_head",
            "add_member",
            "split",
            "merge",
            "remove_member"
        ]
    );
    assert_eq!(history[1].change.reason.as_deref(), Some("head is ill"));
    assert_eq!(history[0].household.members.len(), 3);
}

on_both_stores!(a_household_changes_head_grows_splits_and_merges);
