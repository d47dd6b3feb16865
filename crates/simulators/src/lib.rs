//! Reference simulators of the national systems dspp talks to but cannot reach from here: the Ministry of
//! Interior's ID verification service and a program operator's enrolment endpoint.
//!
//! Each implements its protocol document (docs/protocols/) on its own, without dspp's client code, so a
//! drift between client and document fails the tests. Both serve the direct path and the X-Road REST path
//! (`/r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}/...`), take a bearer token, and accept injected
//! faults (`/_sim/faults`). The binaries `dspp-nid-sim` and `dspp-operator-sim` wrap `serve_national_id`
//! and `serve_operator`; tests call those directly on a port-0 listener.

mod error;
mod generate;
mod http;
mod national_id;
mod operator;
mod shutdown;

pub use error::SimError;
pub use generate::generate_cards;
pub use http::Faults;
pub use national_id::{
    Answer, AuditEntry, CardStatus, FieldCheck, IdCard, IdStatus, LevelOfAssurance,
    NationalIdConfig, PartialDate, Question, Sex, VERIFY_PATH, check, is_id_number, load_cards,
    national_id_router, normalize_khmer, normalize_latin, read_cards, serve_national_id,
    write_cards,
};
pub use operator::{
    ENROLMENTS_PATH, OperatorConfig, ReceivedDelivery, operator_router, serve_operator,
};
pub use shutdown::shutdown_signal;
