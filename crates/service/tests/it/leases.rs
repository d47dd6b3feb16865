//! SPID leases for offline enrolment, end to end: grant, issue offline, reconcile at sync, return.

use chrono::Duration;
use dspp_domain::Role;
use dspp_service::{NewLease, OfflineIssue, ServiceError};
use dspp_store::SpidState;

use crate::people::{household_of_three, member};
use crate::support::{Harness, actor, officer};
use dspp_testkit::on_both_stores;

async fn a_device_issues_leased_spids_offline_and_they_reconcile(h: Harness) {
    let registry = &h.registry;
    let request = NewLease {
        device_id: "tablet-120101-07".into(),
        size: 5,
        valid_days: 30,
    };
    let lease = registry.grant_lease(&officer(), &request).await.unwrap();
    assert_eq!(lease.entries.len(), 5);
    assert_eq!(lease.count(SpidState::Leased), 5);
    let leased: Vec<_> = lease.entries.iter().map(|e| e.spid).collect();
    // Leased SPIDs are reserved, not people.
    assert!(matches!(
        registry.person(&officer(), leased[0]).await,
        Err(ServiceError::NotFound(_))
    ));

    // Offline, two days later, the tablet enrols a household with three of them.
    h.clock.advance(Duration::days(2));
    let issued_at = h.now();
    let mut household = household_of_three();
    for (i, m) in household.members.iter_mut().enumerate() {
        m.offline = Some(OfflineIssue {
            spid: leased[i],
            lease: lease.lease.id,
            device_id: request.device_id.clone(),
            issued_at,
        });
    }
    // It syncs a day later.
    h.clock.advance(Duration::days(1));
    let (view, _) = registry
        .register_household(&officer(), &household)
        .await
        .unwrap();
    let got: Vec<_> = view.members.iter().map(|(_, p)| p.person.spid).collect();
    assert_eq!(got, leased[..3]);

    // The same SPID issued twice (a device bug) is refused, and nothing of that household is written.
    let mut twice = household_of_three();
    twice.members.truncate(1);
    twice.members[0].offline = Some(OfflineIssue {
        spid: leased[0],
        lease: lease.lease.id,
        device_id: request.device_id.clone(),
        issued_at,
    });
    assert!(matches!(
        registry.register_household(&officer(), &twice).await,
        Err(ServiceError::Conflict(_))
    ));
    // Another device cannot use this lease.
    twice.members[0].offline = Some(OfflineIssue {
        spid: leased[3],
        lease: lease.lease.id,
        device_id: "tablet-x".into(),
        issued_at,
    });
    assert!(matches!(
        registry.register_household(&officer(), &twice).await,
        Err(ServiceError::Invalid(_))
    ));

    // Issued after the lease expired: refused with the reason.
    h.clock.advance(Duration::days(40));
    let late = h.now();
    let mut after_expiry = household_of_three();
    after_expiry.members = vec![member(after_expiry.members[0].person.clone(), "head")];
    after_expiry.members[0].offline = Some(OfflineIssue {
        spid: leased[3],
        lease: lease.lease.id,
        device_id: request.device_id.clone(),
        issued_at: late,
    });
    let err = registry
        .register_household(&officer(), &after_expiry)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("after the lease expired"), "{err}");

    // Returning the lease voids what was not issued; voided SPIDs are never issued.
    let returned = registry
        .return_lease(&officer(), lease.lease.id)
        .await
        .unwrap();
    assert_eq!(returned.count(SpidState::Assigned), 3);
    assert_eq!(returned.count(SpidState::Void), 2);
    assert!(returned.lease.returned_at.is_some());
    after_expiry.members[0].offline = Some(OfflineIssue {
        spid: leased[4],
        lease: lease.lease.id,
        device_id: request.device_id.clone(),
        issued_at,
    });
    assert!(matches!(
        registry.register_household(&officer(), &after_expiry).await,
        Err(ServiceError::Conflict(_))
    ));

    // Leases are bounded, and only for those who enrol.
    let auditor = actor("audit.1", Role::Auditor, "national");
    assert!(matches!(
        registry.grant_lease(&auditor, &request).await,
        Err(ServiceError::Forbidden(_))
    ));
    let huge = NewLease {
        size: 1_000_000,
        ..request.clone()
    };
    assert!(matches!(
        registry.grant_lease(&officer(), &huge).await,
        Err(ServiceError::Invalid(_))
    ));
    let stranger = actor("officer.other", Role::Officer, "commune:120101");
    assert!(matches!(
        registry.lease(&stranger, lease.lease.id).await,
        Err(ServiceError::Forbidden(_))
    ));
}

on_both_stores!(a_device_issues_leased_spids_offline_and_they_reconcile);
