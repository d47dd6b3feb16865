-- Programs, applications, approvals, delegations, the outbox and identity checks. Same shared SQL subset
-- as 0001: text ids and timestamps, BIGINT numbers, JSON as text.

-- A program's definition files, every version ever loaded; `program` points at the one in force.
CREATE TABLE program (
    code TEXT PRIMARY KEY,
    current_version TEXT NOT NULL,
    operator TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE program_version (
    program_code TEXT NOT NULL,
    version TEXT NOT NULL,
    format TEXT NOT NULL,
    -- The definition file as loaded: CSV text, or base64 of the .xlsx workbook.
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    loaded_at TEXT NOT NULL,
    loaded_by TEXT NOT NULL,
    PRIMARY KEY (program_code, version)
);

-- A chief's formal delegation of approval to a named officer, for a period, under a letter.
CREATE TABLE delegation (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    delegate TEXT NOT NULL,
    commune_code TEXT NOT NULL REFERENCES commune (code),
    letter_reference TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT,
    revoke_reason TEXT
);
CREATE INDEX delegation_delegate ON delegation (delegate, commune_code);

-- One submission by an officer for one household, covering several programs for its members.
CREATE TABLE application (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES household (id),
    commune_code TEXT NOT NULL,
    version BIGINT NOT NULL,
    submitted_by TEXT NOT NULL,
    -- Everyone who submitted or resubmitted it, as a JSON array: none of them may approve it.
    submitters TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX application_commune ON application (commune_code, submitted_at);
CREATE INDEX application_household ON application (household_id);

-- One program for one subject (a person, or the household for household-level programs).
CREATE TABLE enrolment (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES application (id),
    program_code TEXT NOT NULL,
    program_version TEXT NOT NULL,
    household_id TEXT NOT NULL REFERENCES household (id),
    person_id TEXT REFERENCES person (id),
    -- person id or household id: the unit the program enrols.
    subject_id TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    status TEXT NOT NULL,
    -- 1 while pending, approved or delivered: at most one active enrolment per program and subject.
    active BIGINT NOT NULL,
    -- How many approval steps are done.
    steps_done BIGINT NOT NULL,
    answers TEXT NOT NULL,
    evaluation TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    decided_at TEXT,
    decision_reason TEXT,
    approved_at TEXT,
    delivered_at TEXT,
    beneficiary_id TEXT,
    ended_at TEXT,
    end_reason TEXT,
    recertify_by TEXT,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX enrolment_one_active ON enrolment (program_code, subject_id) WHERE active = 1;
CREATE INDEX enrolment_application ON enrolment (application_id);
CREATE INDEX enrolment_person ON enrolment (person_id);
CREATE INDEX enrolment_commune ON enrolment (commune_code, status);

-- Every decision on every step, with who acted and on whose authority.
CREATE TABLE approval (
    id TEXT PRIMARY KEY,
    enrolment_id TEXT NOT NULL REFERENCES enrolment (id),
    application_id TEXT NOT NULL REFERENCES application (id),
    step BIGINT NOT NULL,
    step_role TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL,
    actor_subject TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    on_behalf_of TEXT,
    delegation_id TEXT REFERENCES delegation (id),
    delegation_reference TEXT
);
CREATE INDEX approval_enrolment ON approval (enrolment_id);

-- Every status change of an application's enrolments, for timing and for the commune's view.
CREATE TABLE status_event (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    enrolment_id TEXT,
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TEXT NOT NULL,
    actor_subject TEXT NOT NULL,
    on_behalf_of TEXT,
    note TEXT
);
CREATE INDEX status_event_application ON status_event (application_id, at);

-- The transactional outbox: written in the same transaction as the change it announces, sent by a
-- worker at least once, retried with backoff. kind: delivery (an approved enrolment to its operator),
-- id_check (a national ID number to the Ministry's verification service).
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_subject ON outbox (subject_id);

-- Answers of the national ID service, kept as evidence.
CREATE TABLE id_verification (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES person (id),
    document_number TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    id_status TEXT NOT NULL,
    level_of_assurance TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX id_verification_person ON id_verification (person_id);

-- A household's poverty status: computed from a scoring questionnaire, or set by the council with a reason.
CREATE TABLE poverty_status (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES household (id),
    enrolment_id TEXT REFERENCES enrolment (id),
    score DOUBLE PRECISION,
    computed_status TEXT,
    status TEXT NOT NULL,
    override_reason TEXT,
    at TEXT NOT NULL,
    actor_subject TEXT NOT NULL
);
CREATE INDEX poverty_status_household ON poverty_status (household_id, at);
