-- The registry's first schema. Written in the subset of SQL that PostgreSQL and SQLite share, so one
-- file serves both: text keys, BIGINT numbers (0/1 for flags), timestamps as fixed-width UTC text
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ, which sorts as time does), documents as JSON text.

CREATE TABLE province (
    code TEXT PRIMARY KEY,
    name_km TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE district (
    code TEXT PRIMARY KEY,
    province_code TEXT NOT NULL REFERENCES province (code),
    name_km TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE commune (
    code TEXT PRIMARY KEY,
    district_code TEXT NOT NULL REFERENCES district (code),
    name_km TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE village (
    code TEXT PRIMARY KEY,
    commune_code TEXT NOT NULL REFERENCES commune (code),
    name_km TEXT NOT NULL,
    name_en TEXT NOT NULL
);

-- Every write, with who made it, on whose authority and why. The tamper-evident transaction log of a
-- later schema version chains these rows.
CREATE TABLE change_log (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_subject TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_scope TEXT NOT NULL,
    on_behalf_of TEXT,
    delegation_reference TEXT,
    purpose TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX change_log_entity ON change_log (entity, entity_id);

CREATE TABLE household (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    village_code TEXT NOT NULL REFERENCES village (code),
    commune_code TEXT NOT NULL,
    dissolved BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX household_commune ON household (commune_code);

CREATE TABLE household_version (
    household_id TEXT NOT NULL REFERENCES household (id),
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    change_id TEXT NOT NULL REFERENCES change_log (id),
    PRIMARY KEY (household_id, version)
);

CREATE TABLE person (
    id TEXT PRIMARY KEY,
    spid TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    household_id TEXT REFERENCES household (id),
    village_code TEXT NOT NULL REFERENCES village (code),
    commune_code TEXT NOT NULL,
    district_code TEXT NOT NULL,
    province_code TEXT NOT NULL,
    key_km TEXT NOT NULL,
    key_latin TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    assurance BIGINT NOT NULL,
    deceased BIGINT NOT NULL DEFAULT 0,
    merged_into TEXT,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX person_village ON person (village_code);
CREATE INDEX person_commune ON person (commune_code);
CREATE INDEX person_district ON person (district_code);
CREATE INDEX person_province ON person (province_code);
CREATE INDEX person_household ON person (household_id);
CREATE INDEX person_key_latin ON person (key_latin);
CREATE INDEX person_key_km ON person (key_km);

CREATE TABLE person_version (
    person_id TEXT NOT NULL REFERENCES person (id),
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    change_id TEXT NOT NULL REFERENCES change_log (id),
    PRIMARY KEY (person_id, version)
);

-- Documents are also kept inside the person's data; this table indexes them for look-up by number.
CREATE TABLE identity_document (
    person_id TEXT NOT NULL REFERENCES person (id),
    kind TEXT NOT NULL,
    number TEXT NOT NULL,
    PRIMARY KEY (person_id, kind, number)
);
CREATE INDEX identity_document_number ON identity_document (kind, number);

CREATE TABLE spid_lease (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    granted_to TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    size BIGINT NOT NULL,
    returned_at TEXT
);
CREATE INDEX spid_lease_device ON spid_lease (device_id);

-- Every SPID ever drawn, so that none is ever drawn twice. state: leased (reserved for a device, not yet
-- issued), assigned (a person's SPID), alias (a merged person's SPID, resolving to alias_of), void
-- (leased and returned or expired unissued; still never reused).
CREATE TABLE spid (
    spid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    person_id TEXT REFERENCES person (id),
    alias_of TEXT,
    lease_id TEXT REFERENCES spid_lease (id),
    created_at TEXT NOT NULL,
    assigned_at TEXT
);
CREATE INDEX spid_lease_member ON spid (lease_id);

-- Responses to POSTs made with an Idempotency-Key, replayed when the same client retries.
CREATE TABLE idempotency (
    actor_subject TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT,
    response_headers TEXT,
    response_body TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (actor_subject, idempotency_key)
);
