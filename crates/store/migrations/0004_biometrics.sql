-- Biometrics: each person's two thumbs and face, and every 1:1 check against them. Same shared SQL subset as 0001.
-- Templates and embeddings are stored only sealed (AES-256-GCM with a key id, the row's person and part bound as
-- associated data: crates/vault); a face photo only sealed too, and only until its retention deadline.

-- One capture or one exception per person and part; a new capture replaces the current one (kept, with
-- replaced_at set, so the history of what was matched stays on record).
CREATE TABLE biometric (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES person (id),
    -- right_thumb, left_thumb or face.
    part TEXT NOT NULL,
    -- captured, or exception (the finger is missing, amputated, injured or unreadable: the person still enrols).
    status TEXT NOT NULL,
    -- captured: the template's format (iso-19794-2:2005) or the face model's name.
    format TEXT,
    sealed BYTEA,
    -- captured: 0-100, the capture's quality.
    quality BIGINT,
    -- exception: why, and the officer's note.
    exception_reason TEXT,
    note TEXT,
    -- face: the sealed photo, until photo_expires_at.
    photo BYTEA,
    photo_expires_at TEXT,
    -- The change_log row naming who captured or approved it, for whom, and why.
    change_id TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    replaced_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX biometric_current ON biometric (person_id, part) WHERE replaced_at IS NULL;
-- The in-memory fingerprint and face indexes catch up on captures changed since they last looked.
CREATE INDEX biometric_updated ON biometric (updated_at, id);
CREATE INDEX biometric_photo_expiry ON biometric (photo_expires_at);
-- The exceptions report: exceptions are few, and every one is audited.
CREATE INDEX biometric_status ON biometric (status, replaced_at);

-- Every 1:1 verification at a service point: the electronic record of each identity check.
CREATE TABLE biometric_check (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES person (id),
    part TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    -- 1 when the score reached the threshold.
    matched BIGINT NOT NULL,
    change_id TEXT NOT NULL,
    checked_at TEXT NOT NULL
);
CREATE INDEX biometric_check_person ON biometric_check (person_id, checked_at);
