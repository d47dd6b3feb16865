-- Suspected duplicates and what reviewers decided about them. Same shared SQL subset as 0001.

-- One pair of people the engines think may be one person. person_a sorts before person_b, so a pair has
-- one row whatever the order it was found in; a decided pair is never opened again.
CREATE TABLE duplicate_case (
    id TEXT PRIMARY KEY,
    person_a TEXT NOT NULL REFERENCES person (id),
    person_b TEXT NOT NULL REFERENCES person (id),
    -- The engine that found it first: biographic, fingerprint or face.
    source TEXT NOT NULL,
    match_probability DOUBLE PRECISION NOT NULL,
    -- What the engine proposed: same_person or needs_review.
    proposal TEXT NOT NULL,
    -- JSON: the engine's evidence (per-field levels and weights).
    evidence TEXT NOT NULL,
    commune_a TEXT NOT NULL,
    commune_b TEXT NOT NULL,
    -- open, same_person (merged), different_people (remembered; also after an unmerge).
    status TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    deadline TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    decided_role TEXT,
    on_behalf_of TEXT,
    decision_reason TEXT,
    -- For same_person: the person kept and the person merged into it.
    survivor TEXT,
    merged TEXT,
    -- JSON [{"id", "status"}]: the merged person's enrolments ended at the merge because the survivor already
    -- held the same program (one person, one benefit), with the status each had; an unmerge reinstates them.
    ended_enrolments TEXT,
    unmerged_at TEXT,
    unmerged_by TEXT,
    unmerge_reason TEXT,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX duplicate_case_pair ON duplicate_case (person_a, person_b);
CREATE INDEX duplicate_case_person_b ON duplicate_case (person_b);
CREATE INDEX duplicate_case_commune_a ON duplicate_case (status, commune_a);
CREATE INDEX duplicate_case_commune_b ON duplicate_case (status, commune_b);

-- Holds: a household's household-level enrolments.
CREATE INDEX enrolment_household ON enrolment (household_id);

-- The duplicate index catches up on people changed since it last looked.
CREATE INDEX person_updated ON person (updated_at, id);
